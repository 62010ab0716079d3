"""The interpret stage: latents flow through record building, explaining and scoring, concurrently.

`pipeline_num_proc` workers take latents from a queue; each builds the latent's record (in a
thread: numpy and file reads), asks the explainer, then runs every scorer concurrently. The client
bounds the total number of requests in flight. Each result is written the moment it exists, so a
killed run loses at most the latents in flight, and a rerun skips what is on disk.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from autointerp.clients.base import Client
from autointerp.explainers.base import Explainer
from autointerp.pipeline import outputs
from autointerp.pipeline.config import InterpretConfig
from autointerp.pipeline.fingerprint import Protocol
from autointerp.pipeline.outputs import RunPaths
from autointerp.pipeline.shuffled import SUFFIX, derangement
from autointerp.records import Explanation, Latent, LatentRecord, ScoreResult
from autointerp.scorers.base import Scorer

logger = logging.getLogger(__name__)


class RunFailedError(RuntimeError):
    """More latents failed than `max_failure_fraction` allows (results and summary are still written)."""


class ServerDiedError(RunFailedError):
    """The LLM server the run started exited while the stage ran (what was finished is written)."""


@dataclass
class StageState:
    """What happened to the latents of one invocation."""

    skipped: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    skip_reasons: dict[str, dict[int, str]] = field(default_factory=lambda: defaultdict(dict))
    failed: list[Latent] = field(default_factory=list)
    attempted: int = 0
    resumed: int = 0
    not_started: int = 0
    busy_s: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    """Seconds spent per stage, summed over concurrent latents."""


class InterpretStage:
    """Explains and scores the selected latents of one run folder; `run()` returns what it did."""

    def __init__(
        self,
        run_dir: Any,
        config: InterpretConfig,
        *,
        builder: Any,
        client: Client,
        explainer: Explainer,
        scorers: dict[str, Scorer],
        accounting: Any = None,
        output_tokens: Any = None,
        baseline_explainer: Explainer | None = None,
        second_judge: Client | None = None,
    ):
        """builder: an `autointerp.examples.RecordBuilder`; scorers: {name: Scorer}; accounting: an
        `autointerp.clients.accounting.Accounting` whose `budget_exhausted` stops new latents;
        output_tokens: an `autointerp.pipeline.output_tokens.OutputTokens` filling `top_output_tokens`;
        baseline_explainer: a control explainer scored beside the explainer (`pipeline.baseline`);
        second_judge: another client answering the same scorer prompts (`pipeline.second_judge`)."""
        self.paths = RunPaths(run_dir)
        self.config = config
        self.builder = builder
        self.client = client
        self.explainer = explainer
        self.scorers = scorers
        self.accounting = accounting
        self.output_tokens = output_tokens
        self.state = StageState()
        manifest = getattr(getattr(builder, "reader", None), "manifest", None) or {}
        self.protocol = Protocol(manifest, config.examples, explainer, scorers, getattr(client, "model", ""))
        # a remade cache invalidates everything made from the old one
        self.redo = set(config.overwrite) | ({"explanations", "scores"} if "cache" in config.overwrite else set())
        self.extras = _extras(self.protocol, scorers, baseline_explainer, second_judge)
        """Extra scorings of each latent's record: the baseline explainer's, the second judge's."""
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="records")  # builder is not thread safe
        self._io = ThreadPoolExecutor(max_workers=2, thread_name_prefix="writes")  # JSON writes off the event loop

    def select(self) -> list[Latent]:
        """The latents this run interprets, from the config's hookpoints / max_latents / latents."""
        c = self.config
        return list(self.builder.select_latents(hookpoints=c.hookpoints, max_latents=c.max_latents, latents=c.latents))

    async def run(self, latents: list[Latent]) -> StageState:
        """Process every latent with bounded concurrency (then the shuffled control, when asked for);
        returns the invocation's state."""
        try:
            await self._each(latents, self.process, "interpret")
            if self.config.shuffled_baseline:
                partners = derangement([lt for lt in latents if self._explanation(lt)], self.config.seed)
                if not partners:
                    logger.warning("shuffled_baseline needs at least two explained latents; none scored")
                await self._each(sorted(partners), lambda lt: self.process_shuffled(lt, partners[lt]), "shuffled")
        finally:
            self._pool.shutdown(wait=False)
            self._io.shutdown(wait=True)
        return self.state

    async def _each(self, latents: list[Latent], work: Any, desc: str) -> None:
        """`work(latent)` for every latent, `pipeline_num_proc` at a time."""
        queue: asyncio.Queue[Latent] = asyncio.Queue()
        for latent in latents:
            queue.put_nowait(latent)
        progress = _progress(len(latents), desc)
        n_workers = max(1, min(self.config.pipeline_num_proc, len(latents)))
        try:
            await asyncio.gather(*(self._worker(queue, progress, work) for _ in range(n_workers)))
        finally:
            progress.close()

    async def _worker(self, queue: asyncio.Queue[Latent], progress: Any, work: Any) -> None:
        while not queue.empty():
            latent = queue.get_nowait()
            if self._budget_exhausted():
                self.state.not_started += 1
            else:
                await work(latent)
            progress.update(1)

    def _explanation(self, latent: Latent) -> Explanation | None:
        """The latent's stored explanation of the current protocol."""
        return outputs.load_explanation(self.paths, latent, self.protocol.explanation)

    async def process_shuffled(self, latent: Latent, partner: Latent) -> None:
        """Score the latent with `partner`'s explanation (the control), skipping what is on disk."""
        theirs = self._explanation(partner)
        todo = [name for name, scorer in self.scorers.items() if scorer.needs_explanation and theirs is not None
                and ("scores" in self.redo or not outputs.score_done(
                    self.paths, name + SUFFIX, latent, self.protocol.score(name, shuffled=True)))]
        if not todo:
            return
        record = await self._build(latent)
        if record is None:
            return
        borrowed = Explanation(latent=latent, text=theirs.text, explainer=theirs.explainer, model=theirs.model)
        await asyncio.gather(*(self._score(name, record, borrowed, of=partner) for name in todo))

    def _budget_exhausted(self) -> bool:
        return bool(self.accounting is not None and self.accounting.budget_exhausted)

    async def process(self, latent: Latent) -> None:
        """Explain and score one latent, skipping whatever is already on disk."""
        explanation = None if "explanations" in self.redo else self._explanation(latent)
        todo = self._scorers_to_run(latent, rescore_all=explanation is None)
        extra = [(x, x.todo(self, latent, explanation is None)) for x in self.extras]
        if explanation is not None and not todo and not any(names for _, names in extra):
            self.state.resumed += 1
            return
        record = await self._build(latent)
        if record is None:
            return
        self.state.attempted += 1
        if explanation is None:
            explanation = await self._explain(latent, record)
        if explanation is None:
            todo = [name for name in todo if not self.scorers[name].needs_explanation]
        await asyncio.gather(*(self._score(name, record, explanation) for name in todo),
                             *(x.run(self, record, explanation, names) for x, names in extra if names))

    async def _build(self, latent: Latent) -> LatentRecord | None:
        """The latent's record (in the records thread); None when skipped or when building failed (recorded)."""
        loop = asyncio.get_running_loop()
        try:
            record = await self._timed("records", loop.run_in_executor(self._pool, self._build_record, latent))
        except Exception as exc:  # a bad latent must not stop the run
            logger.warning("building the record of %s failed: %s", latent, exc)
            self.state.attempted += 1
            self.state.failed.append(latent)
            await self._write(outputs.write_explanation, self.paths, latent, None, None, f"{type(exc).__name__}: {exc}",
                              self.protocol.explanation)
            return None
        if record is None:
            self.state.skipped[latent.hookpoint].append(latent.index)
            reason = getattr(self.builder, "skip_reasons", {}).get(latent)
            if reason:
                self.state.skip_reasons[latent.hookpoint][latent.index] = reason
        return record

    def _build_record(self, latent: Latent) -> LatentRecord | None:
        """The builder's record with its logit-lens tokens (records thread)."""
        record = self.builder.build(latent)
        if record is not None and self.output_tokens is not None:
            record.top_output_tokens = self.output_tokens.tokens(latent)
        return record

    def _scorers_to_run(self, latent: Latent, rescore_all: bool) -> list[str]:
        if rescore_all or "scores" in self.redo:
            return list(self.scorers)
        return [name for name in self.scorers
                if not outputs.score_done(self.paths, name, latent, self.protocol.score(name))]

    async def _explain(self, latent: Latent, record: LatentRecord) -> Explanation | None:
        """Ask the explainer; a failure becomes an error record, never an explanation."""
        from autointerp.clients.accounting import usage_stage

        try:
            with usage_stage("explain"):
                explanation = await self._timed("explain", self.explainer.explain(record, self.client))
            error = None
        except Exception as exc:  # any failure of one latent is recorded; the run goes on
            logger.warning("explaining %s failed: %s", latent, exc)
            explanation, error = None, f"{type(exc).__name__}: {exc}"
            self.state.failed.append(latent)
        await self._write(outputs.write_explanation, self.paths, latent, record, explanation, error,
                          self.protocol.explanation)
        return explanation

    async def _score(self, name: str, record: LatentRecord, explanation: Explanation | None,
                     of: Latent | None = None, *, client: Client | None = None, stored: str | None = None,
                     fingerprint: str | None = None, usage: str | None = None) -> None:
        """Run one scorer (on another latent's explanation when `of` is given: the control, written
        under `<scorer>@shuffled`); a failure becomes an error result. The extras pass their own
        client, stored name, fingerprint and usage stage."""
        from autointerp.clients.accounting import usage_stage

        text = explanation.text if explanation is not None else None
        stored = stored or (name + SUFFIX if of is not None else name)
        usage = usage or f"score/{stored}"
        try:
            with usage_stage(usage):
                result = await self._timed(usage, self.scorers[name].score(record, explanation, client or self.client))
        except Exception as exc:  # recorded as that scorer's error for this latent
            logger.warning("scoring %s with %s failed: %s", record.latent, stored, exc)
            result = ScoreResult(latent=record.latent, scorer=name, explanation=text, error=f"{type(exc).__name__}: {exc}")
        result.scorer = stored
        result.explanation_of = str(of) if of is not None else None
        result.fingerprint = fingerprint or self.protocol.score(name, shuffled=of is not None)
        await self._write(outputs.write_score, self.paths, result)

    async def _write(self, writer: Any, *args: Any) -> None:
        """Run an atomic JSON writer in the I/O threads, so requests keep flowing while it serializes."""
        await asyncio.get_running_loop().run_in_executor(self._io, writer, *args)

    async def _timed(self, stage: str, awaitable: Any) -> Any:
        start = time.perf_counter()
        try:
            return await awaitable
        finally:
            self.state.busy_s[stage] += time.perf_counter() - start


def _extras(protocol: Protocol, scorers: dict[str, Scorer], baseline: Explainer | None, judge: Client | None) -> list:
    """The extra scorings the run asked for, baseline first."""
    from autointerp.pipeline.baseline import BaselineScoring
    from autointerp.pipeline.second_judge import SecondJudge

    return ([BaselineScoring(baseline, protocol, scorers)] if baseline is not None else []) + \
        ([SecondJudge(judge, protocol, scorers)] if judge is not None else [])


def check_failures(counts: dict[str, int], max_failure_fraction: float, kinds: Callable[[], Counter] | None = None) -> None:
    """Raise `RunFailedError` when too many of the run's latents (explained or failed, over every
    invocation: a rerun retries failed latents) have failed; the message quotes the most common error
    (`kinds` is called only then: it reads the error records)."""
    failed, done = counts["failed"], counts["failed"] + counts["explained"]
    if done and failed / done > max_failure_fraction:
        raise RunFailedError(
            f"{failed} of {done} latents failed, more than max_failure_fraction={max_failure_fraction}"
            f"{describe_failures(kinds() if kinds else Counter())}; the error records are under explanations/"
        )


def failure_kinds(paths: RunPaths, latents: list[Latent]) -> Counter:
    """The error records of `latents` grouped by kind: {an example message: how many latents}."""
    examples: dict[str, str] = {}
    counts: Counter = Counter()
    for latent in latents:
        error = (outputs.read_json(paths.explanation(latent)) or {}).get("error")
        if error:
            kind = re.sub(r"\d+", "N", error)  # ports, counts and ids differ; the failure is the same
            examples.setdefault(kind, error)
            counts[examples[kind]] += 1
    return counts


def describe_failures(kinds: Counter) -> str:
    """"; most common error (19 latents): ..." plus how many other kinds, or "" when none is known."""
    if not kinds:
        return ""
    (message, n), others = kinds.most_common(1)[0], len(kinds) - 1
    rest = f"; {others} other kind{'s' if others > 1 else ''} of error" if others else ""
    return f"; most common error ({n} latent{'s' if n > 1 else ''}): {message}{rest}"


def _progress(total: int, desc: str = "interpret") -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="latent", disable=None)
