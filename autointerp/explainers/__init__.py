"""Explainers: turn a latent's record into a short explanation with an LLM.

Choose one by type (YAML `class_path`) or by short name with `explainer_class(name)`.
"""

from __future__ import annotations

from autointerp.explainers.base import Explainer, ExplanationError
from autointerp.explainers.default import ChainOfThoughtExplainer, ContrastiveExplainer, DefaultExplainer
from autointerp.subclasses import subclass_named


def explainer_class(name: str) -> type[Explainer]:
    """The Explainer subclass whose `name` is `name` (`default`, `contrastive`, `chain-of-thought`)."""
    return subclass_named(Explainer, name, "explainer")


__all__ = [
    "ChainOfThoughtExplainer",
    "ContrastiveExplainer",
    "DefaultExplainer",
    "Explainer",
    "ExplanationError",
    "explainer_class",
]
