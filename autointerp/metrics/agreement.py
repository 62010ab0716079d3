"""How much two judges agree: Cohen's kappa on per-example verdicts, Pearson and Spearman on
per-latent scores, each with a bootstrap interval over latents (seeded).

Latents are the unit of resampling: the verdicts of one latent share an explanation and a prompt,
so they are not independent, and resampling single verdicts would give intervals that are too narrow.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from autointerp.metrics.correlation import pearson


@dataclass
class LatentPair:
    """One latent's judgements by two judges: paired verdicts and the two per-latent scores."""

    latent: str
    verdicts_a: list[bool] = field(default_factory=list)
    verdicts_b: list[bool] = field(default_factory=list)
    score_a: float = math.nan
    score_b: float = math.nan


def cohen_kappa(a: Sequence[bool], b: Sequence[bool]) -> float:
    """Cohen's kappa of two binary raters over the same items; NaN when empty or when chance
    agreement is 1 (both always give the same single answer)."""
    x, y = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if x.shape != y.shape:
        raise ValueError(f"a has {x.size} verdicts but b has {y.size}")
    if x.size == 0:
        return math.nan
    observed = float(np.mean(x == y))
    pa, pb = float(x.mean()), float(y.mean())
    expected = pa * pb + (1 - pa) * (1 - pb)
    return (observed - expected) / (1 - expected) if expected < 1 else math.nan


def ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks from 1, ties given their average rank."""
    x = np.asarray(values, dtype=float)
    order = np.argsort(x, kind="mergesort")
    out = np.empty(x.size, dtype=float)
    sorted_x = x[order]
    i = 0
    while i < x.size:
        j = i
        while j + 1 < x.size and sorted_x[j + 1] == sorted_x[i]:
            j += 1
        out[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (Pearson on average ranks); NaN when either side is constant."""
    return pearson(ranks(x), ranks(y))


def _interval(stat: Callable[[list[LatentPair]], float], pairs: list[LatentPair], seed: int, n_boot: int,
              level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of `stat` over latents resampled with replacement (NaN draws dropped)."""
    if len(pairs) < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    draws = [stat([pairs[i] for i in rng.integers(0, len(pairs), len(pairs))]) for _ in range(n_boot)]
    kept = np.asarray([d for d in draws if not math.isnan(d)], dtype=float)
    if kept.size == 0:
        return math.nan, math.nan
    alpha = (1 - level) / 2
    return float(np.quantile(kept, alpha)), float(np.quantile(kept, 1 - alpha))


def _kappa(pairs: list[LatentPair]) -> float:
    return cohen_kappa([v for p in pairs for v in p.verdicts_a], [v for p in pairs for v in p.verdicts_b])


def _scored(pairs: list[LatentPair]) -> list[LatentPair]:
    return [p for p in pairs if not (math.isnan(p.score_a) or math.isnan(p.score_b))]


def _pearson(pairs: list[LatentPair]) -> float:
    pairs = _scored(pairs)
    return pearson([p.score_a for p in pairs], [p.score_b for p in pairs])


def _spearman(pairs: list[LatentPair]) -> float:
    pairs = _scored(pairs)
    return spearman([p.score_a for p in pairs], [p.score_b for p in pairs]) if len(pairs) >= 2 else math.nan


def agreement(pairs: list[LatentPair], *, seed: int = 0, n_boot: int = 1000, n_flagged: int = 5) -> dict:
    """Kappa, Pearson and Spearman with intervals, the counts behind them, and the `n_flagged`
    latents whose two scores differ most (largest absolute difference first)."""
    out: dict = {"n_latents": len(_scored(pairs)), "n_verdicts": sum(len(p.verdicts_a) for p in pairs)}
    for name, stat in (("kappa", _kappa), ("pearson", _pearson), ("spearman", _spearman)):
        low, high = _interval(stat, pairs, seed, n_boot)
        out[name] = {"value": stat(pairs), "ci_low": low, "ci_high": high}
    gaps = sorted(_scored(pairs), key=lambda p: (-abs(p.score_a - p.score_b), p.latent))
    out["disagree_most"] = [{"latent": p.latent, "judge": p.score_a, "second_judge": p.score_b,
                             "difference": p.score_a - p.score_b} for p in gaps[:n_flagged]]
    return out
