"""Explainers: turn a latent's record into a short explanation with an LLM.

Choose one by type (YAML `class_path`) or by short name with `explainer_class(name)`.
"""

from __future__ import annotations

from autointerp.explainers.base import Explainer, ExplanationError
from autointerp.explainers.default import ChainOfThoughtExplainer, ContrastiveExplainer, DefaultExplainer


def _all_subclasses(cls: type) -> list[type]:
    """Every subclass of `cls`, depth first."""
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


def explainer_class(name: str) -> type[Explainer]:
    """The Explainer subclass whose `name` is `name` (`default`, `contrastive`, `chain-of-thought`)."""
    classes = {c.name: c for c in _all_subclasses(Explainer)}
    if name not in classes:
        raise ValueError(f"explainer: unknown name {name!r}; choose from {', '.join(sorted(classes))}")
    return classes[name]


__all__ = [
    "ChainOfThoughtExplainer",
    "ContrastiveExplainer",
    "DefaultExplainer",
    "Explainer",
    "ExplanationError",
    "explainer_class",
]
