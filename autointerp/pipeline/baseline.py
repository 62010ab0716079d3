"""The baseline explainer: every latent also explained by a control (e.g. `TopTokensExplainer`,
no LLM) and scored by the same scorers on the same record, so on the same test examples.

Its scores live under `scores/<scorer>@<baseline name>/` (e.g. `detection@top-tokens`), beside the
LLM explainer's, as the shuffled control's do. The summary gives each metric's lift of the LLM
explanation over the baseline, paired per latent, with a bootstrap interval over latents.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from autointerp.explainers.base import Explainer
from autointerp.pipeline import outputs
from autointerp.pipeline.extra_scores import ExtraScores
from autointerp.pipeline.fingerprint import Protocol, digest, settings_of
from autointerp.records import Explanation, Latent, LatentRecord, ScoreResult

logger = logging.getLogger(__name__)


class BaselineScoring(ExtraScores):
    """Explain each latent with the baseline explainer and score that explanation like the LLM's."""

    def __init__(self, explainer: Explainer, protocol: Protocol, scorers: dict[str, Any]) -> None:
        """explainer: the baseline (bound to the run); protocol: the run's fingerprints; scorers: {name: Scorer}."""
        super().__init__(scorers)
        self.explainer = explainer
        self.suffix = "@" + explainer.name
        self.protocol = protocol
        self._settings = settings_of(explainer)

    def fingerprint(self, name: str) -> str:
        """The protocol of the baseline's score of scorer `name`: the scorer's, with the baseline explainer's settings."""
        return digest({"score": self.protocol.score(name), "baseline": self._settings})

    async def run(self, stage: Any, record: LatentRecord, explanation: Explanation | None, names: list[str]) -> None:
        """Explain `record` with the baseline and score it with `names` (the LLM's explanation is not used)."""
        from autointerp.clients.accounting import usage_stage

        try:
            with usage_stage("baseline/explain"):
                ours = await stage._timed("baseline/explain", self.explainer.explain(record, stage.client))
        except Exception as exc:  # the baseline's failure is recorded per scorer; the run goes on
            logger.warning("the baseline explainer failed on %s: %s", record.latent, exc)
            error = f"baseline explainer: {type(exc).__name__}: {exc}"
            for name in names:
                result = ScoreResult(latent=record.latent, scorer=self.stored(name), explanation=None, error=error,
                                     fingerprint=self.fingerprint(name))
                await stage._write(outputs.write_score, stage.paths, result)
            return
        await asyncio.gather(*(stage._score(n, record, ours, stored=self.stored(n), fingerprint=self.fingerprint(n))
                               for n in names))

    async def close(self) -> None:
        """Nothing to release (the baseline shares the run's client, when it uses one)."""


def baseline_lift(paths: Any, scorers: list[str], suffix: str, latents: list[Latent], fingerprints: dict[str, str],
                  seed: int) -> dict[str, dict[str, Any]]:
    """{hookpoint: {scorer: {metric: {baseline, lift, lift_ci_low, lift_ci_high, n}}}}: the LLM
    explanation's lift over the baseline's on the same latents (paired), from the stored results."""
    from autointerp.pipeline.shuffled import paired_lift
    from autointerp.pipeline.summary import scorer_results

    out: dict[str, dict[str, Any]] = {}
    for scorer in scorers:
        ours, _ = scorer_results(paths, scorer, latents, fingerprints.get(scorer))
        theirs, _ = scorer_results(paths, scorer + suffix, latents, fingerprints.get(scorer + suffix))
        for hp, results in ours.items():
            if theirs.get(hp):
                lift = paired_lift(results, theirs[hp], seed=seed, control_key="baseline")
                if lift:
                    out.setdefault(hp, {})[scorer] = lift
    return out
