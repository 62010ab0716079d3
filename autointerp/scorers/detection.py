"""Detection and recall: does the latent fire anywhere in this (unmarked) excerpt?"""

from __future__ import annotations

import random
from collections import defaultdict

from autointerp.prompting import example_tokens
from autointerp.records import LatentRecord, ScoredSample
from autointerp.scorers.classifier import ClassifierScorer, Item


class DetectionScorer(ClassifierScorer):
    """Held-out activating examples (`test`) and scorer negatives, unmarked, shuffled, in batches.

    Metrics: balanced accuracy (chance 0.5), accuracy, precision, recall, F1, and AUROC with
    `log_probs`, each with its chance level.
    """

    name = "detection"

    def items(self, record: LatentRecord, rng: random.Random) -> list[Item]:
        """Test examples (activating) then negatives, as plain text."""
        items = [Item(ex, True, "".join(example_tokens(ex, self.tokenizer)), quantile=ex.quantile)
                 for ex in record.test]
        items += [Item(ex, False, "".join(example_tokens(ex, self.tokenizer))) for ex in record.negatives]
        return items


class RecallScorer(DetectionScorer):
    """Detection over the activating test examples only; recall overall and per quantile (chance 0.5)."""

    name = "recall"

    def items(self, record: LatentRecord, rng: random.Random) -> list[Item]:
        """Test examples only."""
        return [Item(ex, True, "".join(example_tokens(ex, self.tokenizer)), quantile=ex.quantile)
                for ex in record.test]

    def metrics(self, samples: list[ScoredSample]) -> dict[str, float]:
        """Recall overall, per quantile (`recall_q0` is the strongest bin), and mean P(yes) with logprobs."""
        parsed = [s for s in samples if s.prediction is not None]
        if not parsed:
            return {}
        metrics = {"recall": sum(bool(s.prediction) for s in parsed) / len(parsed), "recall_chance": 0.5}
        by_quantile: dict[int, list[bool]] = defaultdict(list)
        for s in parsed:
            by_quantile[int(s.quantile or 0)].append(bool(s.prediction))
        for q, verdicts in sorted(by_quantile.items()):
            metrics[f"recall_q{q}"] = sum(verdicts) / len(verdicts)
            metrics[f"recall_q{q}_chance"] = 0.5
        probs = [s.probability for s in parsed if s.probability is not None]
        if self.log_probs and probs:
            metrics["mean_probability"] = sum(probs) / len(probs)
        return metrics

