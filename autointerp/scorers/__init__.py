"""Scorers: test an explanation on a latent's held-out examples.

Choose one by type (YAML `class_path`) or by short name with `scorer_class(name)`: `detection`,
`recall`, `fuzz`, `simulation`, `surprisal`, `embedding`, `intruder`. Importing this package is
cheap: torch, transformers and sentence-transformers load only when a scorer first needs them.
"""

from __future__ import annotations

from autointerp.scorers.base import Scorer
from autointerp.scorers.classifier import ClassifierScorer
from autointerp.scorers.detection import DetectionScorer, RecallScorer
from autointerp.scorers.embedding import EmbeddingScorer
from autointerp.scorers.fuzz import FuzzScorer
from autointerp.scorers.intruder import IntruderScorer
from autointerp.scorers.simulation import SimulationScorer
from autointerp.scorers.surprisal import SurprisalScorer
from autointerp.scorers.values import ValueScorer
from autointerp.subclasses import subclass_named


def scorer_class(name: str) -> type[Scorer]:
    """The Scorer subclass whose `name` is `name` (the spec's `--scorers` values)."""
    return subclass_named(Scorer, name, "scorers")


__all__ = [
    "ClassifierScorer",
    "DetectionScorer",
    "EmbeddingScorer",
    "FuzzScorer",
    "IntruderScorer",
    "RecallScorer",
    "Scorer",
    "SimulationScorer",
    "SurprisalScorer",
    "ValueScorer",
    "scorer_class",
]
