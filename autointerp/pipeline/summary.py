"""`summary.json`: metrics per hookpoint and scorer, counts, usage, timing, read back from the run folder.

The summary is built from the files on disk, not from memory, so a resumed run's summary covers
every latent, whichever invocation produced it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from autointerp.io import read_json, write_json
from autointerp.pipeline.outputs import RunPaths
from autointerp.pipeline.shuffled import SUFFIX, paired_lift
from autointerp.records import Latent, ScoredSample, ScoreResult
from autointerp.run_folder import RunSummary


def score_result_from_dict(data: dict[str, Any]) -> ScoreResult:
    """Rebuild a `ScoreResult` from its JSON form."""
    latent = Latent(data["latent"]["hookpoint"], int(data["latent"]["index"]))
    samples = [ScoredSample(**s) for s in data.get("samples", [])]
    metrics = {k: (math.nan if v is None else v) for k, v in (data.get("metrics") or {}).items()}  # NaN is stored as null
    fields = ("explanation", "metrics", "n_unparseable", "prompt_tokens", "completion_tokens", "error",
              "explanation_of", "fingerprint")
    kept = {k: data.get(k) for k in fields if k in data and k != "metrics"}
    return ScoreResult(latent=latent, scorer=data["scorer"], samples=samples, metrics=metrics, **kept)


def explanation_counts(paths: RunPaths, latents: list[Latent]) -> tuple[dict[str, int], dict[str, list[int]]]:
    """(explained, failed) counts over the selected latents, and the failed indices per hookpoint."""
    counts = {"explained": 0, "failed": 0}
    failed: dict[str, list[int]] = defaultdict(list)
    for latent in latents:
        data = read_json(paths.explanation(latent))
        if data is None:
            continue
        if data.get("explanation") is not None:
            counts["explained"] += 1
        else:
            counts["failed"] += 1
            failed[latent.hookpoint].append(latent.index)
    return counts, dict(failed)


def scorer_results(paths: RunPaths, scorer: str, latents: list[Latent],
                   fingerprint: str | None = None) -> tuple[dict[str, list[ScoreResult]], int]:
    """One scorer's stored results for the selected latents, grouped by hookpoint, and how many
    stored results were left out for another protocol (their fingerprint is not `fingerprint`)."""
    out: dict[str, list[ScoreResult]] = defaultdict(list)
    stale = 0
    for latent in latents:
        data = read_json(paths.score(scorer, latent))
        if data is None:
            continue
        if fingerprint is not None and data.get("fingerprint") != fingerprint:
            stale += 1
            continue
        out[latent.hookpoint].append(score_result_from_dict(data))
    return dict(out), stale


def build_summary(
    paths: RunPaths,
    *,
    meta: dict[str, Any],
    scorers: list[str],
    latents: list[Latent],
    skipped: dict[str, list[int]],
    usage: dict[str, dict[str, Any]],
    timing: dict[str, float],
    cache: dict[str, Any],
    seed: int = 0,
    fingerprints: dict[str, str] | None = None,
    **extra: Any,
) -> RunSummary:
    """The run's summary: per hookpoint and scorer the aggregated metrics (over results of the
    current protocol only, when `fingerprints` {stored scorer name: fingerprint} is given), the
    lift over the shuffled-explanation control where it ran, plus counts, usage and timing; `extra`
    fills the rest of `RunSummary` (skip_reasons, usage_total, invocation, server_died, specialization)."""
    fingerprints = fingerprints or {}
    hookpoints = sorted({latent.hookpoint for latent in latents} | set(skipped))
    per_hookpoint: dict[str, dict[str, Any]] = {hp: {} for hp in hookpoints}
    high_quality: dict[str, dict[str, int]] = {hp: {} for hp in hookpoints}
    shuffled: dict[str, dict[str, Any]] = {}
    scorer_counts: dict[str, dict[str, Any]] = {}
    for scorer in scorers:
        by_hp, stale = scorer_results(paths, scorer, latents, fingerprints.get(scorer))
        control, _ = scorer_results(paths, scorer + SUFFIX, latents, fingerprints.get(scorer + SUFFIX))
        scorer_counts[scorer] = _scorer_block(scorer, by_hp, control, stale, seed, per_hookpoint, high_quality, shuffled)
    explained, failed = explanation_counts(paths, latents)
    n_skipped = sum(len(v) for v in skipped.values())
    n_unparseable = sum(c["unparseable"] for c in scorer_counts.values())
    counts = {"latents": len(latents) + n_skipped, **explained, "skipped": n_skipped, "unparseable": n_unparseable}
    return RunSummary(
        **meta, scorers=scorers, hookpoints=hookpoints, per_hookpoint=per_hookpoint, shuffled_baseline=shuffled,
        counts=counts, scorer_counts=scorer_counts, skipped=skipped, failed=failed, high_quality=high_quality,
        usage=usage, timing_s=timing, cache=cache, **extra,
    )


def _scorer_block(scorer: str, by_hp: dict[str, list[ScoreResult]], control: dict[str, list[ScoreResult]],
                  stale: int, seed: int, per_hookpoint: dict, high_quality: dict, shuffled: dict) -> dict[str, Any]:
    """Aggregate one scorer per hookpoint into the summary's tables; return its counts."""
    from autointerp.metrics import aggregate

    counts = {"latents": 0, "asked": 0, "scored": 0, "failed": 0, "unparseable": 0, "stale": stale}
    for hp, results in by_hp.items():
        agg = aggregate(results, seed=seed).get(scorer)
        if agg is None:
            continue
        per_hookpoint[hp][scorer] = agg["metrics"]
        high_quality[hp][scorer] = agg["n_high_quality"]
        for key, name in (("latents", "n_latents"), ("asked", "n_asked"), ("scored", "n_scored"),
                          ("failed", "n_failed"), ("unparseable", "n_unparseable")):
            counts[key] += agg[name]
        if control.get(hp):
            shuffled.setdefault(hp, {})[scorer] = paired_lift(results, control[hp], seed=seed)
    counts["coverage"] = counts["scored"] / counts["asked"] if counts["asked"] else math.nan
    return counts


def write_summary(paths: RunPaths, summary: RunSummary) -> None:
    """Write `summary.json` atomically."""
    write_json(paths.summary, summary.to_dict())


def results_table(summary: dict[str, Any]) -> str:
    """A plain-text table of the headline metrics, for the end of a run: mean over scored latents
    with its interval, chance, the intention-to-treat mean, and the lift over the shuffled control."""
    lines = [f"{'hookpoint':<20} {'scorer':<12} {'metric':<32} {'mean':>7} {'95% CI':>16} {'chance':>7} "
             f"{'n':>5} {'itt':>7} {'vs shuffled':>12}"]
    shuffled = summary.get("shuffled_baseline") or {}
    for hp, by_scorer in summary["per_hookpoint"].items():
        for scorer, metrics in by_scorer.items():
            for metric, m in metrics.items():
                ci = f"[{_fmt(m['ci_low'])}, {_fmt(m['ci_high'])}]"
                lift = ((shuffled.get(hp) or {}).get(scorer) or {}).get(metric) or {}
                lines.append(
                    f"{hp:<20} {scorer:<12} {metric:<32} {_fmt(m['mean']):>7} {ci:>16} {_fmt(m['chance']):>7} "
                    f"{m['n']:>5} {_fmt(m.get('itt')):>7} {_signed(lift.get('lift')):>12}"
                )
    c = summary["counts"]
    lines.append(
        f"latents {c['latents']}: explained {c['explained']}, failed {c['failed']}, skipped {c['skipped']}, "
        f"unparseable replies {c['unparseable']}"
    )
    for scorer, sc in (summary.get("scorer_counts") or {}).items():
        lines.append(f"{scorer}: scored {sc.get('scored')} of {sc.get('asked')} latents asked "
                     f"(coverage {_fmt(sc.get('coverage'))}), {sc.get('stale', 0)} results of another protocol left out")
    if summary.get("calibration"):
        from autointerp.pipeline.calibration_verdict import calibration_table

        lines.append(calibration_table(summary["calibration"]))
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"
