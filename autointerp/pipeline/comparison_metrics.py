"""The summary's comparison blocks (lift over the baseline explainer, agreement of two judges) as MLflow metrics."""

from __future__ import annotations

from typing import Any


def lift_metrics(block: dict[str, Any] | None) -> dict[str, float]:
    """The summary's `baseline_explainer` block as MLflow metrics: `<scorer>/<hp>/<metric>_vs_<baseline>_<key>`."""
    out: dict[str, float] = {}
    if not block:
        return out
    name = block.get("name", "baseline")
    for hp, by_scorer in (block.get("lift") or {}).items():
        for scorer, metrics in by_scorer.items():
            for metric, m in metrics.items():
                for key, value in m.items():
                    out[f"{scorer}/{hp}/{metric}_vs_{name}_{key}"] = value
    return out


def agreement_metrics(block: dict[str, Any] | None) -> dict[str, float]:
    """The summary's `judge_agreement` block as MLflow metrics: `<scorer>/<hp>/judge_agreement/kappa` (and `_ci_low`, ...)."""
    out: dict[str, float] = {}
    for hp, by_scorer in ((block or {}).get("per_hookpoint") or {}).items():
        for scorer, a in by_scorer.items():
            base = f"{scorer}/{hp}/judge_agreement"
            for stat in ("kappa", "pearson", "spearman"):
                for key, value in (a.get(stat) or {}).items():
                    out[f"{base}/{stat}" + ("" if key == "value" else f"_{key}")] = value
            out[f"{base}/n_latents"] = a.get("n_latents")
            out[f"{base}/n_verdicts"] = a.get("n_verdicts")
    return out
