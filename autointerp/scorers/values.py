"""Scorers that give each held-out excerpt one number (higher: more likely activating), judged by AUROC."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from autointerp.metrics.classification import auroc
from autointerp.records import Example, Explanation, LatentRecord, ScoredSample, ScoreResult
from autointerp.scorers.base import Scorer


class ValueScorer(Scorer):
    """`score` is shared: test excerpts (activating) and negatives each get a value from `values`;
    the metric is the AUROC of those values (chance 0.5). The client is not used."""

    min_per_class: int = 2
    """A latent needs this many test examples and negatives to be scored (else it is skipped)."""

    @abstractmethod
    async def values(self, explanation: str, examples: list[Example]) -> list[float]:
        """One value per example, in order; higher means the explanation fits it better."""

    async def score(self, record: LatentRecord, explanation: Explanation | None, client: Any = None) -> ScoreResult:
        """Every excerpt's value and their AUROC; a latent without excerpts gets a `skipped:` error row."""
        if explanation is None:
            raise ValueError(f"{self.name} needs an explanation")
        examples = [(ex, True) for ex in record.test] + [(ex, False) for ex in record.negatives]
        result = ScoreResult(latent=record.latent, scorer=self.name, explanation=explanation.text)
        if min(len(record.test), len(record.negatives)) < self.min_per_class:
            result.error = (f"skipped: latent {record.latent} has {len(record.test)} test examples and "
                            f"{len(record.negatives)} negatives, fewer than {self.min_per_class} of each for {self.name}")
            return result
        values = await self.values(explanation.text, [ex for ex, _ in examples])
        for (ex, activating), value in zip(examples, values):
            result.samples.append(ScoredSample(row=int(ex.row), start=int(ex.start), role=ex.role,
                                               activating=activating, quantile=getattr(ex, "quantile", None),
                                               value=value))
        result.metrics = {"auroc": auroc([s.activating for s in result.samples], [s.value for s in result.samples]),
                          "auroc_chance": 0.5, "n_auroc": float(len(result.samples))}
        return result
