"""`interpret(run_dir, config)`: the whole interpret stage of one run, from cache to summary, report and MLflow."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autointerp.io import read_json
from autointerp.latents.format import CacheReader
from autointerp.pipeline import components
from autointerp.pipeline.config import InterpretConfig
from autointerp.pipeline.outputs import RunPaths, redact, write_run_config
from autointerp.pipeline.served import Served, model_on_record, serve, server_work
from autointerp.pipeline.shuffled import SUFFIX
from autointerp.pipeline.stage import InterpretStage, ServerDiedError, StageState, check_failures, failure_kinds
from autointerp.pipeline.summary import build_summary, write_summary
from autointerp.run_folder import RunSummary

logger = logging.getLogger(__name__)


@dataclass
class Parts:
    """Pre-built parts for `interpret` (tests and programmatic callers); None means build from the config."""

    client: Any = None
    explainer: Any = None
    scorers: dict[str, Any] | None = None
    builder: Any = None
    accounting: Any = None
    tokenizer: Any = None
    output_tokens: Any = None
    """An `OutputTokens` (logit lens) filling each record's `top_output_tokens`; None builds it when
    `config.output_tokens` is on."""
    baseline_explainer: Any = None
    """A control explainer (None builds `config.baseline_explainer`, when set)."""
    second_judge: Any = None
    """A second judge's client (None builds `config.second_judge`, when set)."""
    extra_timing: dict[str, float] = field(default_factory=dict)
    """Seconds of earlier stages (predict) to put in the summary."""
    mlflow_run_id: str | None = None
    """An MLflow run already opened for this run (by predict's logger)."""
    mlflow_tracking_uri: str | None = None
    """The tracking URI that run lives in."""


def interpret(run_dir: str | Path, config: InterpretConfig, run_config: dict[str, Any] | None = None, parts: Parts | None = None) -> dict[str, Any]:
    """Explain and score the run's latents, write the summary and report, log to MLflow; return the summary.

    Raises `RunFailedError` (after writing everything) when too many latents failed.
    """
    paths, parts = RunPaths(run_dir), parts or Parts()
    run_config = redact(run_config if run_config is not None else {"interpret": config.to_dict()})  # no secret goes further
    reader = CacheReader(paths.latents)  # fails clearly when predict has not finished
    if config.reference_run:
        CacheReader(paths.sibling(config.reference_run).latents)  # fails before any LLM call
    write_run_config(paths, run_config)
    if parts.client is None and config.client is None:
        components.build_client(config, paths.root)  # raises, naming interpret.client, before anything loads
    _fill_parts(parts, config, reader, paths)
    calibration = _calibration(paths, config, parts)  # a cache without known-answer sets fails here, before serving
    with serve(config, paths.root) as served:
        if parts.client is None:
            parts.client = components.build_client(config, paths.root, served)
        if parts.accounting is None:
            parts.accounting = getattr(parts.client, "accounting", None)
        if parts.second_judge is None and config.second_judge is not None:
            parts.second_judge = config.second_judge
        if parts.second_judge is not None:
            from autointerp.pipeline.second_judge import prepare

            prepare(parts.second_judge, paths.root, parts.accounting)
        return _interpret(paths, config, reader, run_config, parts, served, calibration)


def _calibration(paths: RunPaths, config: InterpretConfig, parts: Parts) -> Any:
    """The run's known-answer latents (`interpret.calibration`), or None."""
    if not config.calibration:
        return None
    from autointerp.pipeline.calibration import Calibration

    return Calibration(paths.root, config, parts)


def _interpret(paths: RunPaths, config: InterpretConfig, reader: CacheReader, run_config, parts: Parts,
               served: Served, calibration: Any = None) -> dict[str, Any]:
    stage = InterpretStage(
        paths.root, config, builder=parts.builder, client=parts.client, explainer=parts.explainer,
        scorers=parts.scorers, accounting=parts.accounting, output_tokens=parts.output_tokens,
        baseline_explainer=parts.baseline_explainer, second_judge=parts.second_judge,
    )
    latents = stage.select()
    logger.info("interpreting %d latents of %s with %s", len(latents), paths.root, getattr(parts.client, "model", "?"))
    start = time.perf_counter()
    try:
        state, server_died = asyncio.run(_run_and_close(stage, latents, parts.client, served.server, calibration))
    finally:
        wall = time.perf_counter() - start
    if state.not_started:
        logger.warning("the LLM budget is spent: %d latents were not started (rerun with a larger budget to finish)",
                       state.not_started)
    fingerprints = {name + suffix: stage.protocol.score(name, shuffled=bool(suffix))
                    for name in parts.scorers for suffix in ("", SUFFIX)}
    for extra in stage.extras:
        fingerprints.update(extra.fingerprints())
    summary = _summarize(paths, config, reader, latents, state, parts, wall, fingerprints, server_died, served)
    if calibration is not None:  # its own block: never in per_hookpoint, counts or the failure fraction
        summary.calibration = calibration.block(summary.per_hookpoint)
        logger.info("%s", summary.calibration["verdict"])
    logger.info("interpret stage took %.1f s; the model on record: %s (%d LLM calls)", wall, summary.explainer_model,
                summary.invocation.get("usage_total", {}).get("calls", 0))
    _finish(paths, config, summary, run_config, parts)
    if server_died:  # after writing what exists: finished latents are on disk, in-flight ones rerun next time
        raise ServerDiedError(f"the interpret stage stopped: {server_died}")
    check_failures(summary.counts, config.max_failure_fraction, lambda: failure_kinds(paths, latents))
    return summary.to_dict()


async def _stages(stage: InterpretStage, latents: list, calibration: Any) -> StageState:
    """The real latents, then the known-answer ones (when asked for); the real stage's state."""
    state = await stage.run(latents)
    if calibration is not None:
        await calibration.run()
    return state


async def _run_and_close(stage: InterpretStage, latents: list, client: Any, server: Any,
                         calibration: Any = None) -> tuple[StageState, str | None]:
    """Run the stage (and the calibration's); with a managed server, stop within a second of its death instead of retrying
    requests to a dead port for minutes. Returns the state and, if it died, what the server said."""
    try:
        if server is None:
            return await _stages(stage, latents, calibration), None
        work = asyncio.ensure_future(_stages(stage, latents, calibration))
        watch = asyncio.ensure_future(server.wait_for_exit())
        await asyncio.wait([work, watch], return_when=asyncio.FIRST_COMPLETED)
        if work.done():
            watch.cancel()
            return work.result(), None
        work.cancel()
        await asyncio.gather(work, return_exceptions=True)  # the stage's finally waits for writes in flight
        message = server.died_message()
        logger.error("%s", message)
        return stage.state, message
    finally:
        await client.close()
        for extra in stage.extras:
            await extra.close()


def _fill_parts(parts: Parts, config: InterpretConfig, reader: CacheReader, paths: RunPaths) -> None:
    """Build what the caller did not pass (but the client); bad names fail here, before any server starts."""
    if parts.tokenizer is None and parts.builder is None:
        from autointerp.pipeline.tokenizer import run_tokenizer

        parts.tokenizer = run_tokenizer(paths.root, reader.manifest.model)
    if parts.explainer is None:
        parts.explainer = components.build_explainer(config, parts.tokenizer)
    if parts.baseline_explainer is None and config.baseline_explainer is not None:
        parts.baseline_explainer = config.baseline_explainer
    if parts.baseline_explainer is not None:
        parts.baseline_explainer.bind(tokenizer=parts.tokenizer or getattr(parts.builder, "tokenizer", None),
                                      seed=config.seed)
    if parts.scorers is None:
        parts.scorers = components.build_scorers(config, parts.tokenizer)
        context = config.serve_context_length if config.serve_gguf else getattr(parts.explainer, "context_length", None)
        components.fit_scorer_prompts(parts.scorers, context, config.examples.example_ctx_len)
    if parts.builder is None:
        parts.builder = components.build_record_builder(config, reader, parts.tokenizer, paths.root, parts.explainer)
    components.bind_run(parts.scorers, config, reader, paths.root)  # steering scorers: the run's model and text
    if parts.output_tokens is None:
        tokenizer = parts.tokenizer or getattr(parts.builder, "tokenizer", None)
        parts.output_tokens = components.build_output_tokens(config, reader, tokenizer, parts.explainer) if tokenizer else None
    if parts.accounting is None and parts.client is not None:
        parts.accounting = getattr(parts.client, "accounting", None)


def _summarize(paths, config, reader, latents, state: StageState, parts: Parts, wall: float,
               fingerprints: dict[str, str], server_died: str | None = None, served: Served | None = None) -> RunSummary:
    """The invocation's `RunSummary`, built once."""
    from autointerp.pipeline.specialization import cache_statistics

    # A skipped latent has no files, so every invocation builds it again and finds it skipped again.
    skipped = {hp: sorted(v) for hp, v in state.skipped.items()}
    kept = [lt for lt in latents if lt.index not in set(skipped.get(lt.hookpoint, []))]
    manifest = reader.manifest
    meta = {
        "name": paths.root.name,
        "model": manifest.model,
        "sparse_model": manifest.sparse_model,
        "explainer_model": getattr(parts.client, "model", None),
        "explainer": getattr(parts.explainer, "name", None),
    }
    if served is not None:
        meta.update(model_on_record(served, parts.accounting, meta["explainer_model"]))
    timing = {**parts.extra_timing, "interpret": wall, **{f"busy/{k}": v for k, v in state.busy_s.items()}}
    usage, usage_total = _usage(parts.accounting), _usage_total(parts.accounting)
    earlier = read_json(paths.summary) or {}  # a resumed run keeps the timing and cost of the work done before
    invocation = {
        "attempted": state.attempted, "resumed": state.resumed, "not_started": state.not_started,
        "budget_exhausted": bool(parts.accounting is not None and parts.accounting.budget_exhausted),
        "timing_s": timing, "usage_total": usage_total,
    }
    extra_names = [name for name in fingerprints if "@" in name and not name.endswith(SUFFIX)]
    summary = build_summary(
        paths, meta=meta, scorers=list(parts.scorers) + extra_names, latents=kept, skipped=skipped,
        usage=_added(earlier.get("usage"), usage), timing=_added(earlier.get("timing_s"), timing),
        cache=cache_statistics(reader), seed=config.seed, fingerprints=fingerprints,
        skip_reasons={hp: {str(i): r for i, r in sorted(v.items())} for hp, v in state.skip_reasons.items()},
        usage_total=_added(earlier.get("usage_total"), usage_total), invocation=invocation, server_died=server_died,
        llm_server=(server_work(served) or None) if served is not None else None,
        specialization=_specialization(paths, config.reference_run) if config.reference_run else None,
        **_comparisons(paths, config, parts, kept, fingerprints),
    )
    return summary


def _comparisons(paths: RunPaths, config: InterpretConfig, parts: Parts, latents: list,
                 fingerprints: dict[str, str]) -> dict[str, Any]:
    """The summary's `baseline_explainer` (lift over it) and `judge_agreement` blocks, where they ran."""
    out: dict[str, Any] = {}
    scorers = list(parts.scorers)
    if parts.baseline_explainer is not None:
        from autointerp.pipeline.baseline import baseline_lift

        name = parts.baseline_explainer.name
        out["baseline_explainer"] = {"name": name, "lift": baseline_lift(paths, scorers, "@" + name, latents,
                                                                         fingerprints, config.seed)}
    if parts.second_judge is not None:
        from autointerp.pipeline.second_judge import judge_agreement

        out["judge_agreement"] = judge_agreement(paths, scorers, latents, fingerprints, config.seed,
                                                 getattr(parts.second_judge, "model", ""))
    return out


def _added(earlier: Any, now: dict[str, Any]) -> dict[str, Any]:
    """`now` plus the numbers of an earlier summary's section (nested dicts added key by key)."""
    if not isinstance(earlier, dict):
        return dict(now)
    out = dict(earlier)
    for key, value in now.items():
        before = out.get(key)
        if isinstance(value, dict):
            out[key] = _added(before, value)
        elif isinstance(value, (int, float)) and isinstance(before, (int, float)) and not isinstance(value, bool):
            out[key] = before + value
        else:
            out[key] = value
    return out


def _usage(accounting: Any) -> dict[str, dict[str, Any]]:
    """Token usage and cost per stage of this invocation."""
    if accounting is None:
        return {}
    from dataclasses import asdict

    return {stage: asdict(u) for stage, u in sorted(accounting.by_stage().items())}


def _usage_total(accounting: Any) -> dict[str, Any]:
    """Token usage and cost of this invocation, summed over stages."""
    from dataclasses import asdict

    return asdict(accounting.total()) if accounting is not None else {}


def _finish(paths: RunPaths, config: InterpretConfig, summary: RunSummary, run_config, parts: Parts) -> None:
    """Summary, report, MLflow: each failure of the extras is logged, not fatal."""
    write_summary(paths, summary)
    if config.report:
        try:
            from autointerp.report import write_report

            write_report(paths.root)
        except Exception as exc:  # the report is a view of results already on disk
            logger.warning("writing the report failed: %s", exc)
    if config.mlflow:
        from autointerp.pipeline.tracking import log_run, resolve_tracking_uri

        uri = parts.mlflow_tracking_uri or resolve_tracking_uri(config.tracking_uri)
        log_run(paths, run_config, summary.to_dict(), uri, config.experiment, run_id=parts.mlflow_run_id)


def _specialization(paths: RunPaths, reference_run: str) -> dict[str, Any]:
    from autointerp.pipeline.specialization import compare, write_specialization

    rows = compare(CacheReader(paths.latents), CacheReader(paths.sibling(reference_run).latents))
    return write_specialization(paths.root, rows, reference_run)
