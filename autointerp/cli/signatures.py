"""Defaults and help texts read from the source of a class, without importing it (so `--help` stays cheap).

`documented(module, cls)` reads a constructor's keyword defaults and its `Args:` docstring, or a
dataclass's field defaults and attribute docstrings, from the module's source with `ast`: the
flat command derives its flags from the signatures they map to instead of restating them.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from dataclasses import dataclass
from typing import Any

MISSING = object()
"""A parameter without a default."""


@dataclass(frozen=True)
class Param:
    """One documented setting: its default (MISSING when required) and its help text."""

    default: Any
    help: str


@functools.cache
def documented(module: str, cls: str) -> dict[str, Param]:
    """{name: Param} of `cls`'s constructor (or dataclass fields) in `module`, read from its source."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ValueError(f"no source for {module}")
    with open(spec.origin, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    node = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls), None)
    if node is None:
        raise ValueError(f"{module} has no class {cls}")
    init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    return _from_init(init) if init is not None else _from_fields(node)


def _from_init(init: ast.FunctionDef) -> dict[str, Param]:
    """Keyword defaults of `__init__` and the `Args:` section of its docstring."""
    import docstring_parser

    docs = {p.arg_name: " ".join((p.description or "").split()) for p in docstring_parser.parse(
        "-\n\n" + (ast.get_docstring(init) or "")).params}  # a summary line first, or a bare `Args:` is not parsed
    args = init.args
    positional = args.posonlyargs + args.args
    defaults = [MISSING] * (len(positional) - len(args.defaults)) + [_value(d) for d in args.defaults]
    pairs = list(zip(positional, defaults)) + [(a, MISSING if d is None else _value(d)) for a, d in zip(args.kwonlyargs, args.kw_defaults)]
    return {a.arg: Param(d, docs.get(a.arg, "")) for a, d in pairs if a.arg != "self"}


def _from_fields(node: ast.ClassDef) -> dict[str, Param]:
    """Dataclass fields: their defaults (`field(default_factory=list)` reads as []) and attribute docstrings."""
    out: dict[str, Param] = {}
    body = node.body
    for i, stmt in enumerate(body):
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        nxt = body[i + 1] if i + 1 < len(body) else None
        doc = nxt.value.value if isinstance(nxt, ast.Expr) and isinstance(getattr(nxt, "value", None), ast.Constant) else ""
        out[stmt.target.id] = Param(MISSING if stmt.value is None else _value(stmt.value), " ".join(str(doc).split()))
    return out


def _value(node: ast.expr) -> Any:
    """A default's value: a literal, `field(default_factory=list|dict)`, or the expression's text."""
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "field":
        factory = next((k.value for k in node.keywords if k.arg == "default_factory"), None)
        if isinstance(factory, ast.Name) and factory.id in ("list", "dict"):
            return [] if factory.id == "list" else {}
        return MISSING
    try:
        return ast.literal_eval(node)
    except ValueError:
        return ast.unparse(node)
