"""Explainers: turn a latent's record into a short explanation with an LLM
(or, as a control, without one: `TopTokensExplainer`).

Choose one by type: YAML `class_path` (`autointerp.explainers.ContrastiveExplainer`, or the short
`ContrastiveExplainer`) with its settings as `init_args`.
"""

from __future__ import annotations

from autointerp.explainers.base import Explainer, ExplanationError
from autointerp.explainers.default import ChainOfThoughtExplainer, ContrastiveExplainer, DefaultExplainer
from autointerp.explainers.top_tokens import TopTokensExplainer


__all__ = [
    "ChainOfThoughtExplainer",
    "ContrastiveExplainer",
    "DefaultExplainer",
    "Explainer",
    "ExplanationError",
    "TopTokensExplainer",
]
