"""Fuzz: are the marked tokens the ones where the latent fires?

Positives are test examples marked at their activating tokens (the explainers' marking rule).
Negatives are scorer negatives marked with the pattern of a positive chosen at random (its marked
positions, shifted to a random place in the window): the number of marked tokens and of marked
runs has the same distribution in both classes and gives nothing away.
"""

from __future__ import annotations

import random

from autointerp.prompting import example_tokens, mark, marked_positions
from autointerp.records import LatentRecord
from autointerp.scorers import prompts
from autointerp.scorers.classifier import ClassifierScorer, Item


def decoy_positions(length: int, pattern: list[int], rng: random.Random) -> list[int]:
    """The marked `pattern` of a positive moved to a random offset inside a window of `length` tokens.

    Falls back to as many random positions when the pattern is wider than the window.
    """
    if not pattern:
        return [rng.randrange(length)] if length else []
    span = pattern[-1] - pattern[0]
    if span >= length:
        return sorted(rng.sample(range(length), min(len(pattern), length)))
    shift = rng.randrange(length - span)
    return [p - pattern[0] + shift for p in pattern]


def mark_patterns(record: LatentRecord, threshold: float) -> list[list[int]]:
    """The marked positions of each test example, in test order."""
    return [marked_positions(ex, threshold) for ex in record.test]


class FuzzScorer(ClassifierScorer):
    """Marked excerpts: correctly marked activating examples versus randomly marked negatives.

    Metrics as detection: balanced accuracy (chance 0.5), accuracy, precision, recall, F1, AUROC.
    """

    name = "fuzz"
    _template = prompts.FUZZ

    def items(self, record: LatentRecord, rng: random.Random) -> list[Item]:
        """Positives marked where they fire; negatives marked with the pattern of a random positive."""
        items = []
        for ex in record.test:
            tokens = example_tokens(ex, self.tokenizer)
            marks = marked_positions(ex, self.threshold)
            items.append(Item(ex, True, mark(tokens, marks), quantile=ex.quantile, highlighted=marks))
        patterns = mark_patterns(record, self.threshold) or [[0]]
        for ex in record.negatives:
            tokens = example_tokens(ex, self.tokenizer)
            marks = decoy_positions(len(tokens), rng.choice(patterns), rng)
            items.append(Item(ex, False, mark(tokens, marks), highlighted=marks))
        return items
