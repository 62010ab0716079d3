"""JSON schemas for structured replies (`structured=True`): the server constrains the reply to them.

Each is an OpenAI-style `response_format`; the parsers read the constrained replies as they read
free ones (a list inside an object is still the reply's last list, and so on). Small models that
ignore the reply format (the embedded 135M model) need this to give parseable answers.
"""

from __future__ import annotations

from typing import Any


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
    return _wrap("choice", {"odd_one_out": {"type": "integer", "minimum": 1, "maximum": n}})


def simulation_format(n: int) -> dict[str, Any]:
    """{"0": 0-10, ..., "n-1": 0-10}."""
    value = {"type": "integer", "minimum": 0, "maximum": 10}
    return _wrap("activations", {str(i): value for i in range(n)})


def explanation_format(reasoning: bool) -> dict[str, Any]:
    """{"reasoning": str, "explanation": str} for chain-of-thought, else {"explanation": str}."""
    props = {"reasoning": {"type": "string"}} if reasoning else {}
    return _wrap("explanation", {**props, "explanation": {"type": "string"}})
