"""Prompt text of the LLM scorers (our own wording). Each template is a `string.Template`.

Placeholders: `$explanation`, `$examples` (numbered excerpts), `$n` (how many excerpts). A file
given as a scorer's `prompt_template` replaces the user message and may use the same placeholders.

The explanation and the instructions come before the excerpts: the prompts of one latent then share
their whole head (system prompt, explanation, instructions), which a server's prefix cache
(llama.cpp's slot, vLLM's automatic prefix caching) evaluates once; only the excerpts and a one-line
reminder of the reply format differ (benchmarks/llm_stage.py counts the tokens evaluated).
"""

SYSTEM = (
    "You test explanations of latents of a language model's sparse autoencoder. Given an "
    "explanation, you predict how the latent behaves on new text. Follow the reply format exactly."
)

DETECTION = """\
Explanation of the latent: $explanation

Below are $n excerpts of text. For each excerpt, decide whether the latent is active anywhere in \
it, judging only by the explanation. Reply with a JSON list of $n numbers in excerpt order: 1 if \
it is active, 0 if not, shaped like [1, 0, ...] but with exactly $n numbers. Write only the list.

$examples
Reply with the list of $n numbers only.
"""

FUZZ = """\
Explanation of the latent: $explanation

Below are $n excerpts of text. In each, some tokens are wrapped in << and >>. The wrapped tokens \
may be exactly where the latent is active, or they may be other tokens: of text where the latent \
is active elsewhere, or of text where it is not active at all. For each excerpt, decide whether \
the wrapped tokens are exactly where this latent would be active, judging only by the \
explanation. Reply with a JSON list of $n numbers in excerpt order: 1 if the wrapped tokens fit \
the explanation, 0 if they do not, shaped like [1, 0, ...] but with exactly $n numbers. Write only \
the list.

$examples
Reply with the list of $n numbers only.
"""

INTRUDER = """\
Below are $n excerpts of text. In all but one of them, the same latent is active on the tokens \
wrapped in << and >>. In the odd one out, the latent is silent, and its wrapped tokens were \
chosen at random. Which excerpt is the odd one out? Reply with its number only.

$examples
Reply with the number of the odd one out only.
"""

SIMULATION = """\
Explanation of the latent: $explanation

Below is an excerpt of text split into $n numbered tokens. Predict, for every token, how strongly \
the latent is active on it, from 0 (silent) to 10 (strongest), judging only by the explanation. \
Most tokens of most texts are 0. Reply with one JSON object that maps each token number to its \
value, for all $n tokens, shaped like {"0": 0, "1": 3, ...}. Write only the object.

$examples
Reply with the object only.
"""
