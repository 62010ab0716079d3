"""Correlation scoring for simulation: one Pearson correlation pooled over all tokens of all sequences.

As OpenAI's neuron-explainer defines the headline score: the per-token predictions and true
activations of every sequence are concatenated, then correlated once (not averaged per sequence).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson correlation of two equal-length sequences; NaN when either is constant or empty."""
    a = np.asarray(x, dtype=float)
    b = np.asarray(y, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"x has {a.size} values but y has {b.size}")
    if a.size < 2:
        return math.nan
    a = a - a.mean()
    b = b - b.mean()
    den = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / den if den > 0 else math.nan


def pooled_correlation(predicted: Sequence[Sequence[float]], true: Sequence[Sequence[float]]) -> float:
    """One Pearson correlation over the concatenated tokens of all sequences."""
    if len(predicted) != len(true):
        raise ValueError(f"{len(predicted)} predicted sequences but {len(true)} true ones")
    for i, (p, t) in enumerate(zip(predicted, true)):
        if len(p) != len(t):
            raise ValueError(f"sequence {i}: {len(p)} predictions for {len(t)} tokens")
    if not predicted:
        return math.nan
    return pearson(np.concatenate([np.asarray(p, float) for p in predicted]),
                   np.concatenate([np.asarray(t, float) for t in true]))
