"""`summary.json`: metrics per hookpoint and scorer, counts, usage, timing, read back from the run folder.

The summary is built from the files on disk, not from memory, so a resumed run's summary covers
every latent, whichever invocation produced it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from autointerp.io import read_json, write_json
from autointerp.pipeline.outputs import RunPaths
from autointerp.records import Latent, ScoredSample, ScoreResult
from autointerp.run_folder import RunSummary


def score_result_from_dict(data: dict[str, Any]) -> ScoreResult:
    """Rebuild a `ScoreResult` from its JSON form."""
    latent = Latent(data["latent"]["hookpoint"], int(data["latent"]["index"]))
    samples = [ScoredSample(**s) for s in data.get("samples", [])]
    fields = ("explanation", "metrics", "n_unparseable", "prompt_tokens", "completion_tokens", "error")
    return ScoreResult(latent=latent, scorer=data["scorer"], samples=samples, **{k: data.get(k) for k in fields if k in data})


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


def scorer_results(paths: RunPaths, scorer: str, latents: list[Latent]) -> dict[str, list[ScoreResult]]:
    """One scorer's stored results for the selected latents, grouped by hookpoint."""
    out: dict[str, list[ScoreResult]] = defaultdict(list)
    for latent in latents:
        data = read_json(paths.score(scorer, latent))
        if data is not None:
            out[latent.hookpoint].append(score_result_from_dict(data))
    return dict(out)


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
    **extra: Any,
) -> RunSummary:
    """The run's summary: per hookpoint and scorer the aggregated metrics, plus counts, usage and timing;
    `extra` fills the rest of `RunSummary` (skip_reasons, usage_total, invocation, server_died, specialization)."""
    from autointerp.metrics import aggregate

    hookpoints = sorted({latent.hookpoint for latent in latents} | set(skipped))
    per_hookpoint: dict[str, dict[str, Any]] = {hp: {} for hp in hookpoints}
    high_quality: dict[str, dict[str, int]] = {hp: {} for hp in hookpoints}
    scorer_counts: dict[str, dict[str, int]] = {}
    n_unparseable = 0
    for scorer in scorers:
        by_hp = scorer_results(paths, scorer, latents)
        counts = {"latents": 0, "failed": 0, "unparseable": 0}
        for hp, results in by_hp.items():
            agg = aggregate(results, seed=seed).get(scorer)
            if agg is None:
                continue
            per_hookpoint[hp][scorer] = agg["metrics"]
            high_quality[hp][scorer] = agg["n_high_quality"]
            counts["latents"] += agg["n_latents"]
            counts["failed"] += agg["n_failed"]
            counts["unparseable"] += agg["n_unparseable"]
        n_unparseable += counts["unparseable"]
        scorer_counts[scorer] = counts
    explained, failed = explanation_counts(paths, latents)
    n_skipped = sum(len(v) for v in skipped.values())
    counts = {"latents": len(latents) + n_skipped, **explained, "skipped": n_skipped, "unparseable": n_unparseable}
    return RunSummary(
        **meta, scorers=scorers, hookpoints=hookpoints, per_hookpoint=per_hookpoint, counts=counts,
        scorer_counts=scorer_counts, skipped=skipped, failed=failed, high_quality=high_quality, usage=usage,
        timing_s=timing, cache=cache, **extra,
    )


def write_summary(paths: RunPaths, summary: RunSummary) -> None:
    """Write `summary.json` atomically."""
    write_json(paths.summary, summary.to_dict())


def results_table(summary: dict[str, Any]) -> str:
    """A plain-text table of the headline metrics, for the end of a run."""
    lines = [f"{'hookpoint':<20} {'scorer':<12} {'metric':<20} {'mean':>7} {'95% CI':>16} {'chance':>7} {'n':>5}"]
    for hp, by_scorer in summary["per_hookpoint"].items():
        for scorer, metrics in by_scorer.items():
            for metric, m in metrics.items():
                ci = f"[{_fmt(m['ci_low'])}, {_fmt(m['ci_high'])}]"
                lines.append(
                    f"{hp:<20} {scorer:<12} {metric:<20} {_fmt(m['mean']):>7} {ci:>16} {_fmt(m['chance']):>7} {m['n']:>5}"
                )
    c = summary["counts"]
    lines.append(
        f"latents {c['latents']}: explained {c['explained']}, failed {c['failed']}, skipped {c['skipped']}, "
        f"unparseable replies {c['unparseable']}"
    )
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
