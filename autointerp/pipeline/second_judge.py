"""The second judge: every scorer's prompts (same record, same explanation, same prompts) also
answered by another client, so the run can say how much two judges agree.

Its results live under `scores/<scorer>@second_judge/`; its calls are counted under the usage stage
`second_judge/<scorer>` of the run's one `Accounting` (its prices join the run's table), so they
cost money in the same ledger and stop at the same `budget_usd`. A resumed run skips what is on disk.
"""

from __future__ import annotations

import asyncio
import logging
import math
from pathlib import Path
from typing import Any

from autointerp.clients.base import Client
from autointerp.pipeline.extra_scores import ExtraScores
from autointerp.pipeline.fingerprint import Protocol, digest
from autointerp.records import Explanation, Latent, LatentRecord, ScoreResult

logger = logging.getLogger(__name__)

SUFFIX = "@second_judge"
"""Scores of the second judge live under `scores/<scorer>@second_judge/`."""
STAGE = "second_judge"
"""The usage stage its calls are counted under (`second_judge/<scorer>`)."""


def prepare(client: Client, run_dir: Path, accounting: Any) -> Client:
    """Give the second judge its own response cache in the run folder and the run's accounting
    (its price table merged in, the run's prices winning), so its cost counts and obeys the budget."""
    if hasattr(client, "use_cache_at"):
        folder = Path(run_dir) / STAGE
        folder.mkdir(parents=True, exist_ok=True)
        client.use_cache_at(folder)
    own = getattr(client, "accounting", None)
    if accounting is not None and own is not None and own is not accounting:
        for model, price in (own.prices or {}).items():
            accounting.prices.setdefault(model, price)
        client.accounting = accounting
    return client


class SecondJudge(ExtraScores):
    """Score each latent's explanation a second time, with another client."""

    suffix = SUFFIX

    def __init__(self, client: Client, protocol: Protocol, scorers: dict[str, Any]) -> None:
        """client: the second judge; protocol: the run's fingerprints; scorers: {name: Scorer}."""
        super().__init__(scorers)
        self.client = client
        self.protocol = protocol
        self.model = getattr(client, "model", "")

    def fingerprint(self, name: str) -> str:
        """The protocol of the second judge's score of `name`: the scorer's, judged by this model."""
        return digest({"score": self.protocol.score(name), "second_judge": self.model})

    async def run(self, stage: Any, record: LatentRecord, explanation: Explanation | None, names: list[str]) -> None:
        """Score the LLM explanation with `names`, answered by the second judge (nothing without an explanation)."""
        if explanation is None:
            return
        await asyncio.gather(*(stage._score(n, record, explanation, client=self.client, stored=self.stored(n),
                                            fingerprint=self.fingerprint(n), usage=f"{STAGE}/{n}") for n in names))

    async def close(self) -> None:
        """Close the second judge's client."""
        await self.client.close()


def verdict_pairs(a: ScoreResult, b: ScoreResult) -> tuple[list[bool], list[bool]]:
    """The two judges' binary verdicts on the same items, paired by (row, start, role, kind) in
    order; items either judge left unanswered, or that only one of them was asked, are dropped."""
    theirs: dict[tuple, list] = {}
    for t in b.samples:
        theirs.setdefault((t.row, t.start, t.role, t.kind), []).append(t)
    x, y = [], []
    for s in a.samples:
        same = theirs.get((s.row, s.start, s.role, s.kind))
        t = same.pop(0) if same else None
        if t is not None and s.prediction is not None and t.prediction is not None:
            x.append(bool(s.prediction))
            y.append(bool(t.prediction))
    if len(x) < len(a.samples) and len(a.samples) != len(b.samples):
        logger.warning("%s: the judges were asked %d and %d items; %d pairs compared", a.latent, len(a.samples),
                       len(b.samples), len(x))
    return x, y


def headline(results: list[ScoreResult]) -> str | None:
    """The scorer's headline metric (as tracking and the report choose it) among the results' metrics."""
    from autointerp.pipeline.tracking import HEADLINE_METRICS

    keys = {k for r in results for k in r.metrics}
    return next((m for m in HEADLINE_METRICS if m in keys), None)


def judge_agreement(paths: Any, scorers: list[str], latents: list[Latent], fingerprints: dict[str, str],
                    seed: int, model: str) -> dict[str, Any]:
    """{"model": the second judge, "per_hookpoint": {hp: {scorer: agreement}}} from the stored results."""
    from autointerp.metrics.agreement import LatentPair, agreement
    from autointerp.pipeline.summary import scorer_results

    out: dict[str, dict[str, Any]] = {}
    for scorer in scorers:
        ours, _ = scorer_results(paths, scorer, latents, fingerprints.get(scorer))
        theirs, _ = scorer_results(paths, scorer + SUFFIX, latents, fingerprints.get(scorer + SUFFIX))
        for hp, results in ours.items():
            second = {r.latent: r for r in theirs.get(hp, []) if r.error is None}
            both = [(r, second[r.latent]) for r in results if r.error is None and r.latent in second]
            if not both:
                continue
            metric = headline([r for r, _ in both])
            pairs = []
            for r, t in both:
                va, vb = verdict_pairs(r, t)
                pairs.append(LatentPair(str(r.latent), va, vb, _metric(r, metric), _metric(t, metric)))
            out.setdefault(hp, {})[scorer] = {"metric": metric, **agreement(pairs, seed=seed)}
    return {"model": model, "per_hookpoint": out}


def _metric(result: ScoreResult, name: str | None) -> float:
    value = result.metrics.get(name) if name else None
    return math.nan if value is None else float(value)
