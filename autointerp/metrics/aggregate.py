"""Summaries over latents: means with seeded bootstrap intervals, chance levels, failure counts,
per-latent statistics and the spec's "high quality" bar.

A `ScoreResult` whose `error` starts with `skipped` counts as skipped (e.g. too few examples);
any other `error` counts as failed. Neither contributes to the means.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autointerp.records import LatentRecord, ScoreResult

CHANCE_SUFFIX = "_chance"


@dataclass(frozen=True)
class QualityBar:
    """Thresholds a latent's scores must all exceed to count as high quality (the spec's bar)."""

    f1: float = 0.7
    """F1 must be above this."""
    precision: float = 0.8
    """Precision must be above this."""
    recall: float = 0.6
    """Recall must be above this."""

    def met(self, metrics: dict[str, float]) -> bool | None:
        """True/False when the metrics hold F1, precision and recall; None when any is missing or NaN."""
        values = [metrics.get(k, math.nan) for k in ("f1", "precision", "recall")]
        if any(v is None or math.isnan(v) for v in values):
            return None
        f1, precision, recall = values
        return f1 > self.f1 and precision > self.precision and recall > self.recall


def bootstrap_ci(values: Sequence[float], *, n_boot: int = 1000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval for the mean of `values` (NaNs dropped), seeded."""
    x = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if x.size == 0:
        return math.nan, math.nan
    if x.size == 1:
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    alpha = (1 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def latent_statistics(record: LatentRecord) -> dict[str, float]:
    """Firing rate and activation strength (mean and max of the nonzero activations) of one latent."""
    return {
        "firing_rate": float(record.firing_rate),
        "mean_activation": float(record.mean_activation),
        "max_activation": float(record.max_activation),
        "n_activating": float(record.n_activating),
    }


def _status(result: ScoreResult) -> str:
    """`ok`, `skipped` or `failed`."""
    if result.error is None:
        return "ok"
    return "skipped" if result.error.lower().startswith("skipped") else "failed"


def _summarize(values: list[float], chances: list[float], seed: int) -> dict[str, float]:
    """Mean, interval, mean chance level and count of the non-NaN values of one metric."""
    finite = [v for v in values if not math.isnan(v)]
    low, high = bootstrap_ci(finite, seed=seed)
    chance = [c for c in chances if not math.isnan(c)]
    return {
        "mean": float(np.mean(finite)) if finite else math.nan,
        "ci_low": low,
        "ci_high": high,
        "chance": float(np.mean(chance)) if chance else math.nan,
        "n": len(finite),
    }


def aggregate(results: Sequence[ScoreResult], *, quality: QualityBar | None = None,
              seed: int = 0) -> dict[str, dict[str, Any]]:
    """Pool per-latent results per scorer: {scorer: {"metrics": {metric: {mean, ci_low, ci_high,
    chance, n}}, "n_latents", "n_failed", "n_skipped", "n_unparseable", "n_high_quality",
    "prompt_tokens", "completion_tokens"}}."""
    bar = quality or QualityBar()
    by_scorer: dict[str, list[ScoreResult]] = defaultdict(list)
    for result in results:
        by_scorer[result.scorer].append(result)
    return {name: _aggregate_one(rs, bar, seed) for name, rs in sorted(by_scorer.items())}


def _aggregate_one(results: list[ScoreResult], bar: QualityBar, seed: int) -> dict[str, Any]:
    """The summary of one scorer's results."""
    statuses = [_status(r) for r in results]
    ok = [r for r, s in zip(results, statuses) if s == "ok"]
    values: dict[str, list[float]] = defaultdict(list)
    chances: dict[str, list[float]] = defaultdict(list)
    for r in ok:
        for key, value in r.metrics.items():
            if key.endswith(CHANCE_SUFFIX):
                chances[key[: -len(CHANCE_SUFFIX)]].append(float(value))
            else:
                values[key].append(float(value))
    metrics = {k: _summarize(v, chances.get(k, []), seed) for k, v in sorted(values.items())}
    verdicts = [bar.met(r.metrics) for r in ok]
    return {
        "metrics": metrics,
        "n_latents": len(results),
        "n_failed": statuses.count("failed"),
        "n_skipped": statuses.count("skipped"),
        "n_unparseable": sum(r.n_unparseable for r in results),
        "n_high_quality": sum(v is True for v in verdicts),
        "n_quality_judged": sum(v is not None for v in verdicts),
        "prompt_tokens": sum(r.prompt_tokens for r in results),
        "completion_tokens": sum(r.completion_tokens for r in results),
    }
