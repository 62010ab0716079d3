"""The calibration block in words: the verdict line and the plain-text table printed at the end of a run.

Pure functions of the summary's `calibration` block (`autointerp.pipeline.calibration` builds it).
"""

from __future__ import annotations

import math
from typing import Any

HEADLINE = ("balanced_accuracy", "auroc", "correlation", "f1", "accuracy")
"""A scorer's headline metric: the first of these it reports (as the report and MLflow choose)."""

NEAR_TRUTH = 0.85
"""A judge whose headline lower bound on known-answer latents reaches this recognises a known answer."""


def headline(metrics: dict[str, Any]) -> str | None:
    """The headline metric's name among a scorer's metrics (per-latent numbers or aggregated dicts)."""
    return next((m for m in HEADLINE if m in metrics and metrics[m] is not None), None)


def _figure(m: dict[str, Any]) -> str:
    """"0.51 [0.44, 0.58] (chance 0.50)"."""
    return f"{_f(m.get('mean'))} [{_f(m.get('ci_low'))}, {_f(m.get('ci_high'))}] (chance {_f(m.get('chance'))})"


def _f(value: Any) -> str:
    return "-" if not isinstance(value, (int, float)) or not math.isfinite(value) else f"{value:.2f}"


def scorer_verdict(scorer: str, entry: dict[str, Any]) -> str:
    """One scorer's verdict: what its score on known-answer latents says about its scores on real ones."""
    metrics = entry.get("known_answer") or {}
    name = headline(metrics)
    if name is None or not entry.get("n_scored"):
        return f"{scorer}: no known-answer latent was scored, so nothing is known of this judge"
    m = metrics[name]
    low, chance = m.get("ci_low"), m.get("chance")
    said = f"on known-answer latents this judge reaches {scorer} {_figure(m)}"
    if not _finite(low) or not _finite(chance) or low <= chance:
        return f"{said}: its {scorer} scores on real latents carry no information"
    if low < NEAR_TRUTH:
        return (f"{said}: above chance but short of a judge that knows the answer (~1.0); "
                f"read its {scorer} scores on real latents against that ceiling")
    return f"{said}: it recognises a known answer, so low {scorer} scores on real latents point at the latents or explanations"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def verdict_line(block: dict[str, Any]) -> str:
    """The whole verdict: how many explanations named their set, then each scorer's verdict."""
    head = (f"calibration on {block['n_latents']} known-answer latents ({block['n_named']} of "
            f"{block['n_explained']} explanations name their set)")
    parts = [scorer_verdict(s, e) for s, e in block["per_scorer"].items()]
    return head + ": " + "; ".join(parts)


def calibration_table(block: dict[str, Any]) -> str:
    """Plain text for the end of a run: per scorer the known-answer figure beside the real latents', each
    known-answer latent's set and explanation, then the verdict."""
    lines = [f"{'calibration':<20} {'scorer':<12} {'metric':<20} {'known-answer':>30} {'real latents':>30}"]
    for scorer, entry in block["per_scorer"].items():
        name = headline(entry.get("known_answer") or {})
        if name is None:
            continue
        real = " ".join(f"{hp} {_figure(by[name])}" for hp, by in (entry.get("real") or {}).items() if name in by) or "-"
        lines.append(f"{block['hookpoint']:<20} {scorer:<12} {name:<20} {_figure(entry['known_answer'][name]):>30} {real:>30}")
    for row in block["latents"]:
        said = row["explanation"] if row["explanation"] is not None else f"(no explanation: {row['error']})"
        lines.append(f"  {row['latent']:>3} {row['set']:<22} {'names it' if row['names_set'] else 'misses':<9} {said}")
    lines.append(block["verdict"])
    return "\n".join(lines)


def calibration_metrics(block: dict[str, Any] | None) -> dict[str, float]:
    """MLflow metrics: `calibration/<scorer>/<metric>` (mean) with `_ci_low`, `_ci_high`, `_chance`, `_n`, plus
    `calibration/n_named` and `calibration/n_latents`."""
    if not block:
        return {}
    out: dict[str, float] = {"calibration/n_latents": block["n_latents"], "calibration/n_named": block["n_named"],
                             "calibration/n_explained": block["n_explained"]}
    for scorer, entry in block["per_scorer"].items():
        for metric, m in (entry.get("known_answer") or {}).items():
            out[f"calibration/{scorer}/{metric}"] = m.get("mean")
            for key in ("ci_low", "ci_high", "chance", "n"):
                out[f"calibration/{scorer}/{metric}_{key}"] = m.get(key)
    return out
