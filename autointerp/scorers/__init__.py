"""Scorers: test an explanation on a latent's held-out examples.

Choose them by type: YAML `class_path` (`autointerp.scorers.DetectionScorer`, or the short
`DetectionScorer`) with their settings as `init_args`; each writes its results under its `name`
(`detection`, `recall`, `fuzz`, `simulation`, `surprisal`, `embedding`, `intruder`, `steering`). Importing this package is
cheap: torch, transformers and sentence-transformers (and the steering scorer's subject model) load only when a scorer first needs them.
"""

from __future__ import annotations

from autointerp.scorers.base import Scorer
from autointerp.scorers.classifier import ClassifierScorer
from autointerp.scorers.detection import DetectionScorer, RecallScorer
from autointerp.scorers.embedding import EmbeddingScorer
from autointerp.scorers.fuzz import FuzzScorer
from autointerp.scorers.intruder import IntruderScorer
from autointerp.scorers.simulation import SimulationScorer
from autointerp.scorers.steering import SteeringScorer
from autointerp.scorers.surprisal import SurprisalScorer
from autointerp.scorers.values import ValueScorer


__all__ = [
    "ClassifierScorer",
    "DetectionScorer",
    "EmbeddingScorer",
    "FuzzScorer",
    "IntruderScorer",
    "RecallScorer",
    "Scorer",
    "SimulationScorer",
    "SteeringScorer",
    "SurprisalScorer",
    "ValueScorer",
]
