"""How examples become prompt text, and the JSON schemas of structured replies: shared by explainers and scorers.

Marking: activating tokens are wrapped in << >>, by one rule everywhere (`marked_positions`, `mark`).
Templates are `string.Template` files checked for unknown placeholders (`load_template`).

Structured replies (`structured=True`): each schema is an OpenAI-style `response_format` the server
constrains the reply to; the parsers read constrained replies as they read free ones. Every schema
bounds the reply's length, so a constrained reply always closes its JSON before `max_tokens`:
strings carry a `maxLength` (a small model otherwise keeps writing inside the string until it is
cut off) and bounded integers are an `enum` (llama-cpp-python's schema-to-grammar converter ignores
`minimum`/`maximum` but honours `enum` and `maxLength`).
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from autointerp.records import ActivatingExample, Example

class RunBound:
    """What explainers and scorers share besides prompt text: the run's tokenizer and seed, handed over once."""

    def bind(self, *, tokenizer: Any = None, seed: int | None = None) -> None:
        """Hand over the run's tokenizer and seed (the interpret stage calls this once per run).

        A tokenizer or seed the constructor was given wins; components without one ignore it."""
        if tokenizer is not None and hasattr(self, "tokenizer") and self.tokenizer is None:
            self.tokenizer = tokenizer
        if seed is not None and hasattr(self, "seed") and self.seed is None:
            self.seed = seed


OPEN, CLOSE = "<<", ">>"
"""Delimiters around marked tokens."""


def example_tokens(example: Example, tokenizer: Any = None) -> list[str]:
    """The example's tokens as strings: `str_tokens` when filled, else decoded one by one as they
    read inside a text."""
    if example.str_tokens is not None:
        if len(example.str_tokens) != len(example.tokens):
            raise ValueError(f"example at row {example.row}: {len(example.str_tokens)} str_tokens "
                             f"for {len(example.tokens)} tokens")
        return list(example.str_tokens)
    if tokenizer is None:
        raise ValueError(f"example at row {example.row} has no str_tokens; pass tokenizer= to decode it")
    from autointerp.examples.decoding import TokenDecoder

    decode = TokenDecoder(tokenizer)  # as each token reads inside a text (SentencePiece word spaces)
    return [decode(int(t)) for t in example.tokens]


def marked_positions(example: Example, threshold: float = 0.0) -> list[int]:
    """Positions whose activation exceeds `threshold` times the example's maximum (0 marks all nonzeros)."""
    acts = np.asarray(example.activations, dtype=float)
    if acts.size == 0 or acts.max() <= 0:
        return []
    return [int(i) for i in np.flatnonzero(acts > max(threshold * acts.max(), 0.0))]


def normalized_activations(example: ActivatingExample, max_activation: float) -> np.ndarray:
    """The example's 0-10 activations: `normalized` when filled, else scaled against `max_activation`."""
    if len(example.normalized) == len(example.tokens):
        return np.asarray(example.normalized, dtype=float)
    top = max_activation if max_activation > 0 else max(example.max_activation, 1e-12)
    return np.clip(np.round(10 * np.asarray(example.activations, float) / top), 0, 10)


def mark(tokens: list[str], positions: Iterable[int]) -> str:
    """Join the tokens into text, wrapping each run of consecutive marked positions in << >>.

    Whitespace at the edges of a run stays outside the delimiters: `The <<cat>> sat`.
    """
    chosen = set(positions)
    parts: list[str] = []
    for i, tok in enumerate(tokens):
        opens, closes = i in chosen and i - 1 not in chosen, i in chosen and i + 1 not in chosen
        blank = not tok.strip()  # a whitespace-only token stays visible inside its marks
        lead = tok[: len(tok) - len(tok.lstrip())] if opens and not blank else ""
        trail = tok[len(tok.rstrip()) :] if closes and not blank else ""
        core = tok[len(lead) : len(tok) - len(trail)]
        parts.append(lead + (OPEN if opens else "") + core + (CLOSE if closes else "") + trail)
    return "".join(parts)


def activation_note(tokens: list[str], positions: list[int], values: np.ndarray) -> str:
    """`tok (7), tok (3)` for the marked positions, with 0-10 activation values."""
    return ", ".join(f"{tokens[i].strip() or repr(tokens[i])} ({int(values[i])})" for i in positions)


def load_template(path: str | None, default: str, fields: Iterable[str], setting: str) -> str:
    """The template text at `path` (or `default`), checked to use only the known `$fields`.

    Raises ValueError naming `setting` when the file is missing or has an unknown placeholder.
    """
    if path is None:
        return default
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"{setting}: no template file at {path!r}")
    text = file.read_text(encoding="utf-8")
    try:
        string.Template(text).substitute({name: "" for name in fields})
    except (KeyError, ValueError) as err:
        raise ValueError(f"{setting}: template {path!r} has a bad placeholder ({err}); "
                         f"allowed: {', '.join('$' + f for f in fields)}") from err
    return text


def render(template: str, **fields: str) -> str:
    """Fill a `string.Template` with the given fields."""
    return string.Template(template).substitute(fields)


# Reply schemas (structured replies)

EXPLANATION_MAX_CHARS = 200
"""Longest explanation a structured reply may hold (about 50 tokens; explanations are one phrase)."""
REASONING_MAX_CHARS = 600
"""Longest chain-of-thought reasoning a structured reply may hold (about 150 tokens)."""


def _wrap(name: str, properties: dict[str, Any]) -> dict[str, Any]:
    """A strict json_schema response_format for an object with these required properties."""
    schema = {"type": "object", "properties": properties, "required": list(properties),
              "additionalProperties": False}
    return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": schema}}


def verdicts_format(n: int) -> dict[str, Any]:
    """{"answers": [n items, each 0 or 1]}."""
    items = {"type": "integer", "enum": [0, 1]}
    return _wrap("verdicts", {"answers": {"type": "array", "items": items, "minItems": n, "maxItems": n}})


def choice_format(n: int) -> dict[str, Any]:
    """{"odd_one_out": an integer 1..n}."""
    return _wrap("choice", {"odd_one_out": {"type": "integer", "enum": list(range(1, n + 1))}})


def simulation_format(n: int) -> dict[str, Any]:
    """{"0": 0-10, ..., "n-1": 0-10}."""
    value = {"type": "integer", "enum": list(range(11))}
    return _wrap("activations", {str(i): value for i in range(n)})


def explanation_format(reasoning: bool) -> dict[str, Any]:
    """{"reasoning": str, "explanation": str} for chain-of-thought, else {"explanation": str}."""
    props = {"reasoning": {"type": "string", "maxLength": REASONING_MAX_CHARS}} if reasoning else {}
    return _wrap("explanation", {**props, "explanation": {"type": "string", "maxLength": EXPLANATION_MAX_CHARS}})
