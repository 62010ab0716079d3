"""JSON schemas for structured replies (`structured=True`): the server constrains the reply to them.

Each is an OpenAI-style `response_format`; the parsers read the constrained replies as they read
free ones (a list inside an object is still the reply's last list, and so on). Small models that
ignore the reply format (the embedded 135M model) need this to give parseable answers.

Every schema bounds the reply's length, so a constrained reply always closes its JSON before
`max_tokens`: strings carry a `maxLength` (a small model otherwise keeps writing inside the string
until it is cut off) and bounded integers are an `enum` (llama-cpp-python's schema-to-grammar
converter ignores `minimum`/`maximum` but honours `enum` and `maxLength`).
"""

from __future__ import annotations

from typing import Any

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
