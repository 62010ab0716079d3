"""Prompt text of the explainers (our own wording). Each template is a `string.Template`.

Placeholders: `$examples` (the numbered activating excerpts), `$negatives` (contrastive only:
numbered excerpts where the latent stays silent), `$output_tokens` (a section on the tokens the
latent promotes, empty unless the output option is on), `$activation_note` (a sentence on the
numbers after each excerpt, empty unless activations are shown). A file given as
`prompt_template` replaces the whole user message and may use the same placeholders.
"""

SYSTEM = (
    "You are a careful analyst of the internals of language models. You look at text where one "
    "latent of a sparse autoencoder is active and describe, in plain words, what it responds to."
)

MARKER = "Explanation:"
"""The line prefix the final answer must carry."""

ACTIVATION_NOTE = (
    "After each excerpt, the marked tokens are listed with the strength of the latent on them, "
    "from 0 (silent) to 10 (its strongest).\n"
)

OUTPUT_TOKENS = (
    "\nWhen this latent is active, the model becomes more likely to write these tokens next: "
    "$tokens\nUse them as a hint if they fit the excerpts.\n"
)

DEFAULT = """\
Below are excerpts of text. In each, the tokens where the latent is active are wrapped in << and >>.
$activation_note
$examples
$output_tokens
What do the marked tokens have in common? Look at their meaning, their form and the words just \
before them. Answer with a single short phrase that would let someone predict where the latent \
fires. Write it on one line that starts with "Explanation:" and write nothing else.
"""

CONTRASTIVE = """\
Below are two groups of excerpts. In the first group the latent is active, and the tokens where it \
is active are wrapped in << and >>.
$activation_note
$examples

In the second group the latent stays silent on every token, although the text may look similar.

$negatives
$output_tokens
What do the marked tokens of the first group share that the second group lacks? Answer with a \
single short phrase that separates the two. Write it on one line that starts with "Explanation:" \
and write nothing else.
"""

CHAIN_OF_THOUGHT = """\
Below are excerpts of text. In each, the tokens where the latent is active are wrapped in << and >>.
$activation_note
$examples
$output_tokens
Work through it step by step:
1. List the marked tokens and the few words before each.
2. Note what they share: topic, word form, grammatical role, or position in a pattern.
3. Check your idea against every excerpt and drop what does not fit all of them.
Then finish with exactly one last line that starts with "Explanation:" followed by a single short \
phrase describing what the latent responds to.
"""

REVISION = """\
An earlier explanation of this latent reads: "$explanation"

Someone used it to predict where the latent is active in new excerpts, and got the excerpts below \
wrong.
$missed$false_alarms
Write a better explanation: one that also covers the missed excerpts and rules out the false \
alarms, while still describing what the earlier explanation got right. Answer with a single short \
phrase on one line that starts with "Explanation:" and write nothing else.
"""
"""Revision from mistakes. `$missed` and `$false_alarms` are the two sections below (either may be empty)."""

MISSED = """
The latent IS active in these excerpts, on the tokens wrapped in << and >>, but the explanation \
did not predict it:
$examples"""

FALSE_ALARMS = """
The latent is NOT active anywhere in these excerpts, but the explanation predicted that it would be:
$examples"""
