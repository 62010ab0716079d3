"""Summaries over latents: means with seeded bootstrap intervals, chance levels, failure counts,
coverage, intention-to-treat figures, per-latent statistics and the "high quality" bar.

A `ScoreResult` whose `error` starts with `skipped` counts as skipped (e.g. too few examples):
it was never asked. Any other `error` counts as failed. The `mean` of a metric is over the scored
latents whose value is defined (`n`; `n_nan` more were scored but undefined, e.g. one class
missing); its `itt` (intention to treat) is over every latent asked, a failed latent or undefined
value counting at the metric's chance level (and a latent's `<metric>_itt` used where it reports
one: its unanswered examples already at chance). `coverage` is scored latents over asked ones.
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
ITT_SUFFIX = "_itt"


@dataclass(frozen=True)
class QualityBar:
    """Chance-corrected thresholds a latent's scores must exceed to count as high quality.

    The spec's bar (F1 > 0.7, precision > 0.8, recall > 0.6) is absolute: with few negatives an
    always-"yes" judge passes it. Balanced accuracy and AUROC sit at 0.5 for any judge that
    ignores the example, whatever the class balance.
    """

    balanced_accuracy: float = 0.75
    """Balanced accuracy must be above this (when the scorer reports it)."""
    auroc: float = 0.8
    """AUROC must be above this (when the scorer reports it)."""

    def met(self, metrics: dict[str, float]) -> bool | None:
        """True/False over the bar's metrics the scorer reports; None when it reports none or one is NaN."""
        checks = [(metrics[k], getattr(self, k)) for k in ("balanced_accuracy", "auroc") if k in metrics]
        if not checks or any(v is None or math.isnan(v) for v, _ in checks):
            return None
        return all(v > bar for v, bar in checks)


def bootstrap_ci(values: Sequence[float], *, n_boot: int = 1000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval for the mean of `values` (NaNs dropped), seeded."""
    x = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if x.size < 2:  # one value says nothing about its spread
        return math.nan, math.nan
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


def _summarize(values: list[float], chances: list[float], itt: list[float], seed: int) -> dict[str, float]:
    """Mean, interval, mean chance level, counts and intention-to-treat figures of one metric."""
    finite = [v for v in values if not math.isnan(v)]
    low, high = bootstrap_ci(finite, seed=seed)
    chance = [c for c in chances if not math.isnan(c)]
    out = {
        "mean": float(np.mean(finite)) if finite else math.nan,
        "ci_low": low,
        "ci_high": high,
        "chance": float(np.mean(chance)) if chance else math.nan,
        "n": len(finite),
        "n_nan": len(values) - len(finite),
    }
    if itt:
        itt_low, itt_high = bootstrap_ci(itt, seed=seed)
        out.update({"itt": float(np.mean(itt)), "itt_ci_low": itt_low, "itt_ci_high": itt_high, "n_asked": len(itt)})
    return out


def aggregate(results: Sequence[ScoreResult], *, quality: QualityBar | None = None,
              seed: int = 0) -> dict[str, dict[str, Any]]:
    """Pool per-latent results per scorer: {scorer: {"metrics": {metric: {mean, ci_low, ci_high,
    chance, n, n_nan, itt, itt_ci_low, itt_ci_high, n_asked}}, "n_latents", "n_asked", "n_scored",
    "coverage", "n_failed", "n_skipped", "n_unparseable", "n_high_quality", "prompt_tokens",
    "completion_tokens"}}."""
    bar = quality or QualityBar()
    by_scorer: dict[str, list[ScoreResult]] = defaultdict(list)
    for result in results:
        by_scorer[result.scorer].append(result)
    return {name: _aggregate_one(rs, bar, seed) for name, rs in sorted(by_scorer.items())}


def split_metrics(metrics: dict[str, float]) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """A latent's metrics as (values, chance levels, intention-to-treat values), keyed by metric name."""
    values, chances, itt = {}, {}, {}
    for key, value in metrics.items():
        if key.endswith(CHANCE_SUFFIX):
            chances[key[: -len(CHANCE_SUFFIX)]] = float(value)
        elif key.endswith(ITT_SUFFIX):
            itt[key[: -len(ITT_SUFFIX)]] = float(value)
        else:
            values[key] = float(value) if value is not None else math.nan
    return values, chances, itt


def _aggregate_one(results: list[ScoreResult], bar: QualityBar, seed: int) -> dict[str, Any]:
    """The summary of one scorer's results."""
    statuses = [_status(r) for r in results]
    asked = [(r, s) for r, s in zip(results, statuses) if s != "skipped"]
    values: dict[str, list[float]] = defaultdict(list)
    chances: dict[str, list[float]] = defaultdict(list)
    split = [split_metrics(r.metrics) if s == "ok" else ({}, {}, {}) for r, s in asked]
    for (v, c, _), (_, status) in zip(split, asked):
        for key, value in v.items():
            values[key].append(value)
        for key, value in c.items():
            chances[key].append(value)
    metrics = {}
    for key in sorted(values):
        chance = float(np.nanmean(chances[key])) if any(not math.isnan(c) for c in chances.get(key, [])) else math.nan
        itt = _itt_values(key, split, chance) if key in chances else []
        metrics[key] = _summarize(values[key], chances.get(key, []), itt, seed)
    ok = [r for r, s in asked if s == "ok"]
    verdicts = [bar.met(r.metrics) for r in ok]
    return {
        "metrics": metrics,
        "n_latents": len(results),
        "n_asked": len(asked),
        "n_scored": len(ok),
        "coverage": len(ok) / len(asked) if asked else math.nan,
        "n_failed": statuses.count("failed"),
        "n_skipped": statuses.count("skipped"),
        "n_unparseable": sum(r.n_unparseable for r in results),
        "n_high_quality": sum(v is True for v in verdicts),
        "n_quality_judged": sum(v is not None for v in verdicts),
        "prompt_tokens": sum(r.prompt_tokens for r in results),
        "completion_tokens": sum(r.completion_tokens for r in results),
    }


def _itt_values(key: str, split: list[tuple[dict, dict, dict]], chance: float) -> list[float]:
    """One value per asked latent: its intention-to-treat value, else its value, else chance."""
    out = []
    for values, chances, itt in split:
        value = itt.get(key, values.get(key, math.nan))
        if math.isnan(value):
            value = chances.get(key, chance)
        out.append(chance if math.isnan(value) else value)
    return [v for v in out if not math.isnan(v)]
