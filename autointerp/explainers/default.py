"""The explainers: default, contrastive and chain-of-thought, each with the optional output side.

All three share one implementation; they differ in their template, in whether they show the
record's `explainer_negatives` (contrastive only; never `negatives`, which belong to scorers), and
in how strictly the reply is parsed (chain-of-thought must end on a marked line).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import numpy as np

from autointerp.clients.base import Client, Message
from autointerp.explainers import prompts
from autointerp.explainers.base import Explainer, ExplanationError
from autointerp.prompting import (
    activation_note,
    explanation_format,
    example_tokens,
    load_template,
    mark,
    marked_positions,
    normalized_activations,
    render,
)
from autointerp.records import ActivatingExample, Explanation, LatentRecord

logger = logging.getLogger(__name__)

FIELDS = ("examples", "negatives", "output_tokens", "activation_note")
MAX_BARE_REPLY = 300
"""Longest reply without the marker still accepted as an explanation (default/contrastive only)."""
_MARKER_LINE = re.compile(r"^[\s>*_#-]*explanation\s*:\s*(.*)$", re.IGNORECASE)


def parse_explanation(text: str, *, require_marker: bool) -> str:
    """The explanation inside a reply: the last `Explanation:` line, or a lone short line when allowed.

    Raises ExplanationError when nothing usable is there.
    """
    structured = _json_explanation(text)
    if structured is not None:
        return structured
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        match = _MARKER_LINE.match(line)
        if match:
            answer = _unmarked(match.group(1))
            if answer:
                return answer
            raise ExplanationError("the reply's Explanation: line is empty")
    if text.lstrip().startswith("{"):  # a JSON reply cut off (max_tokens) or broken: never an explanation
        raise ExplanationError(f"the reply is not one whole JSON object: {text[:200]!r}")
    if not require_marker and len(lines) == 1 and len(lines[0]) <= MAX_BARE_REPLY:
        return _undecorated(lines[0])
    raise ExplanationError(f"no 'Explanation:' line in the reply: {text[:200]!r}")


def _json_explanation(text: str) -> str | None:
    """The non-empty "explanation" field of a reply that is one JSON object (structured replies).

    Raw control characters inside the strings are accepted (llama-cpp-python's JSON grammar lets a
    newline into a string) and whitespace runs become one space: an explanation is one line.
    """
    try:
        value = json.loads(text, strict=False)
    except json.JSONDecodeError:
        return None
    answer = value.get("explanation") if isinstance(value, dict) else None
    if not isinstance(answer, str):
        return None
    answer = " ".join(answer.split())  # newlines and tabs the grammar let in
    return _unmarked(answer) or None  # small models repeat the marker inside the field


def _unmarked(answer: str) -> str:
    """The answer without decoration and without any (repeated, any-case) leading `Explanation:` markers."""
    answer = _undecorated(answer)
    while match := _MARKER_LINE.match(answer):
        answer = _undecorated(match.group(1))
    return answer


def _undecorated(text: str) -> str:
    """The text without markdown emphasis at its edges and without quotes that enclose all of it;
    a quote that belongs to the text stays ("the word 'said'" keeps its closing quote)."""
    text = text.strip().strip("*_` ").strip()
    while len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'" and text[0] not in text[1:-1]:
        text = text[1:-1].strip().strip("*_` ").strip()
    return text


class DefaultExplainer(Explainer):
    """Shows the training examples with activating tokens marked and asks for one short explanation."""

    name = "default"
    _template = prompts.DEFAULT
    _require_marker = False
    _shows_negatives = False

    def __init__(
        self,
        client: Client | None = None,
        *,
        tokenizer: Any = None,
        max_examples: int = 40,
        show_activations: bool = False,
        threshold: float = 0.0,
        output: bool = False,
        prompt_template: str | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
        structured: bool = False,
        context_length: int | None = None,
    ) -> None:
        """Settings only; `client` is used when `explain` gets none, `tokenizer` decodes bare token ids.

        Args:
            client: default LLM client for `explain(record)` calls without one.
            tokenizer: decodes example tokens when a record lacks `str_tokens`.
            max_examples: at most this many training examples go into the prompt.
            show_activations: list each marked token's 0-10 activation after its excerpt.
            threshold: mark tokens whose activation exceeds this fraction of the excerpt's maximum.
            output: add the record's `top_output_tokens` (logit lens) to the prompt.
            prompt_template: path of a file replacing the user-message template.
            max_tokens: most tokens the explainer LLM may write.
            temperature: the explainer LLM's sampling temperature.
            structured: constrain the reply with a JSON schema ({"explanation": ...}, with
                "reasoning" first for chain-of-thought); for servers that support it and small models.
            context_length: the explainer model's context (prompt + reply, in tokens); when set, a
                prompt that would not fit shows fewer examples (with a warning). None: no limit.
        """
        if max_examples < 1:
            raise ValueError(f"max_examples must be at least 1, got {max_examples}")
        if not 0.0 <= threshold < 1.0:
            raise ValueError(f"threshold must be in [0, 1), got {threshold}")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        if context_length is not None and context_length <= max_tokens:
            raise ValueError(f"context_length ({context_length}) must exceed max_tokens ({max_tokens})")
        self.client = client
        self.tokenizer = tokenizer
        self.max_examples = max_examples
        self.show_activations = show_activations
        self.threshold = threshold
        self.output = output
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.structured = structured
        self.context_length = context_length
        self.template = load_template(prompt_template, self._template, FIELDS, "prompt_template")

    def build_messages(self, record: LatentRecord) -> list[Message]:
        """The exact chat the explainer LLM receives for this record, fitted to `context_length`."""
        if not record.train:
            raise ExplanationError(f"latent {record.latent} has no training examples")
        wanted = n = min(len(record.train), self.max_examples)
        messages = self._messages(record, n)
        if self.context_length is None:
            return messages
        budget = self.context_length - self.max_tokens  # the reply needs its room too
        used = self._prompt_tokens(messages)
        while used > budget and n > 1:
            n = max(1, min(n - 1, int(n * budget / used)))
            messages = self._messages(record, n)
            used = self._prompt_tokens(messages)
        if used > budget:
            raise ExplanationError(f"latent {record.latent}: one example already needs ~{used} prompt tokens, more than "
                                   f"context_length ({self.context_length}, explainer_model_max_len) minus max_tokens")
        if n < wanted:
            logger.warning("latent %s: the prompt shows %d of %d examples to fit context_length=%d (explainer_model_max_len)",
                           record.latent, n, wanted, self.context_length)
        return messages

    def _prompt_tokens(self, messages: list[Message]) -> int:
        """A generous estimate of the prompt's tokens: the subject tokenizer's count (or 1 per 3 characters)
        plus 10% for another tokenizer and 8 per message for the chat template."""
        text = "\n".join(m["content"] for m in messages)
        count = len(self.tokenizer.encode(text)) if self.tokenizer is not None else -(-len(text) // 3)
        return int(count * 1.1) + 8 * len(messages)

    def _messages(self, record: LatentRecord, n: int) -> list[Message]:
        """The chat with the first `n` training examples."""
        examples = "\n".join(self._activating_block(i, ex, record) for i, ex in enumerate(record.train[:n], 1))
        user = render(
            self.template,
            examples=examples,
            negatives=self._negatives_block(record, n if n < min(len(record.train), self.max_examples) else self.max_examples),
            output_tokens=self._output_block(record),
            activation_note=prompts.ACTIVATION_NOTE if self.show_activations else "",
        )
        return [{"role": "system", "content": prompts.SYSTEM}, {"role": "user", "content": user}]

    def _activating_block(self, number: int, example: ActivatingExample, record: LatentRecord) -> str:
        """One numbered excerpt with its marked tokens, and their activations when shown."""
        tokens = example_tokens(example, self.tokenizer)
        positions = marked_positions(example, self.threshold)
        text = f"Excerpt {number}: {mark(tokens, positions)}\n"
        if self.show_activations:
            values = normalized_activations(example, record.max_activation)
            text += f"Activations: {activation_note(tokens, positions, np.asarray(values))}\n"
        return text

    def _negatives_block(self, record: LatentRecord, limit: int) -> str:
        """The explainer negatives, numbered and unmarked (contrastive only)."""
        if not self._shows_negatives:
            return ""
        if not record.explainer_negatives:
            logger.warning("latent %s has no explainer_negatives; the contrastive prompt shows none",
                           record.latent)
        negatives = record.explainer_negatives[:limit]
        return "\n".join(f"Silent excerpt {i}: {''.join(example_tokens(ex, self.tokenizer))}\n"
                         for i, ex in enumerate(negatives, 1))

    def _output_block(self, record: LatentRecord) -> str:
        """The logit-lens section, when the output option is on."""
        if not self.output:
            return ""
        if not record.top_output_tokens:
            raise ExplanationError(f"output=True but latent {record.latent} has no top_output_tokens; "
                                   "fill them with autointerp.explainers.logit_lens.top_output_tokens")
        shown = ", ".join(repr(t) for t in record.top_output_tokens)
        return render(prompts.OUTPUT_TOKENS, tokens=shown)

    def parse(self, text: str) -> str:
        """The explanation inside a reply; raises ExplanationError when there is none."""
        return parse_explanation(text, require_marker=self._require_marker)

    async def explain(self, record: LatentRecord, client: Client | None = None) -> Explanation:
        """Ask the LLM for an explanation of one latent; raise ExplanationError on an unusable reply."""
        client = client or self.client
        if client is None:
            raise ValueError("no client: pass one to explain() or to the explainer's constructor")
        messages = self.build_messages(record)
        fmt = explanation_format(reasoning=self._require_marker) if self.structured else None
        response = await client.generate(messages, max_tokens=self.max_tokens, temperature=self.temperature,
                                         response_format=fmt)
        return Explanation(
            latent=record.latent,
            text=self.parse(response.text),
            explainer=self.name,
            model=getattr(client, "model", ""),
            raw_response=response.text,
            prompt_tokens=response.prompt_tokens,
            completion_tokens=response.completion_tokens,
        )


class ContrastiveExplainer(DefaultExplainer):
    """Also shows the record's `explainer_negatives` (never the scorers' `negatives`) as a contrast."""

    name = "contrastive"
    _template = prompts.CONTRASTIVE
    _shows_negatives = True


class ChainOfThoughtExplainer(DefaultExplainer):
    """Asks the LLM to reason step by step, then give the explanation on a marked last line."""

    name = "chain-of-thought"
    _template = prompts.CHAIN_OF_THOUGHT
    _require_marker = True

    def __init__(self, client: Client | None = None, *, max_tokens: int = 1024, **kwargs: Any) -> None:
        """Same settings as DefaultExplainer, with room for the reasoning (`max_tokens` 1024)."""
        super().__init__(client, max_tokens=max_tokens, **kwargs)
