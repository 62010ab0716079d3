"""Detection and recall: does the latent fire anywhere in this (unmarked) excerpt?"""

from __future__ import annotations

import math
import random
from collections import defaultdict

from autointerp.prompting import example_tokens
from autointerp.records import LatentRecord, ScoredSample
from autointerp.scorers.classifier import ClassifierScorer, Item


class DetectionScorer(ClassifierScorer):
    """Held-out activating examples (`test`) and scorer negatives, unmarked, shuffled, in batches.

    Metrics: balanced accuracy (chance 0.5), accuracy, precision, recall (chance: the judge's
    false-positive rate), F1, and AUROC with `log_probs`, each with its chance level; coverage.
    """

    name = "detection"

    def items(self, record: LatentRecord, rng: random.Random) -> list[Item]:
        """Test examples (activating) then negatives, as plain text."""
        items = [Item(ex, True, "".join(example_tokens(ex, self.tokenizer)), quantile=ex.quantile)
                 for ex in record.test]
        items += [Item(ex, False, "".join(example_tokens(ex, self.tokenizer))) for ex in record.negatives]
        return items


class RecallScorer(DetectionScorer):
    """Recall overall and per quantile, each beside the same judge's false-positive rate as its chance.

    Asks about the same items as detection (test examples and negatives, shuffled together): a
    judge that says "yes" to everything reaches recall 1.0, and its false-positive rate of 1.0 on
    the negatives shows that this is no lift.
    """

    name = "recall"

    def metrics(self, samples: list[ScoredSample]) -> dict[str, float]:
        """Recall, per quantile (`recall_q0` is the strongest bin), coverage; mean P(yes) with logprobs."""
        base = super().metrics(samples)
        fpr = base["false_positive_rate"]
        metrics = {"recall": base["recall"], "recall_chance": fpr, "false_positive_rate": fpr,
                   "coverage": base["coverage"], "n_positive": base["n_positive"], "n_negative": base["n_negative"]}
        by_quantile: dict[int, list[bool]] = defaultdict(list)
        for s in samples:
            if s.activating and s.prediction is not None:
                by_quantile[int(s.quantile or 0)].append(bool(s.prediction))
        for q, verdicts in sorted(by_quantile.items()):
            enough = len(verdicts) >= 1 and not math.isnan(fpr)
            metrics[f"recall_q{q}"] = sum(verdicts) / len(verdicts) if enough else math.nan
            metrics[f"recall_q{q}_chance"] = fpr
        probs = [s.probability for s in samples if s.activating and s.probability is not None]
        if self.log_probs and probs:
            metrics["mean_probability"] = sum(probs) / len(probs)
        return metrics
