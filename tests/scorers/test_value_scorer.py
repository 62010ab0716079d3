"""`ValueScorer.score`: samples in order, AUROC against scikit-learn, the skip row and the missing explanation."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from autointerp.records import ActivatingExample, Explanation, Latent, LatentRecord, NonActivatingExample
from autointerp.scorers import ValueScorer

LATENT = Latent("layers.1", 3)


class RowValue(ValueScorer):
    """Value = the example's row times the explanation's length (deterministic, order-revealing)."""

    name = "test-row-value"

    async def values(self, explanation, examples):
        return [float(ex.row * len(explanation)) for ex in examples]


def _record(test_rows, negative_rows) -> LatentRecord:
    def act(r):
        return ActivatingExample(row=r, start=1, tokens=np.arange(3), activations=np.ones(3, np.float32), role="test")

    def neg(r):
        return NonActivatingExample(row=r, start=2, tokens=np.arange(3), activations=np.zeros(3, np.float32),
                                    role="negative")

    return LatentRecord(LATENT, test=[act(r) for r in test_rows], negatives=[neg(r) for r in negative_rows])


def test_samples_and_auroc():
    record = _record([5, 1, 7], [2, 6, 0, 3])
    result = asyncio.run(RowValue().score(record, Explanation(LATENT, "ab", "test")))
    assert result.error is None and result.scorer == "test-row-value"
    assert [(s.row, s.activating, s.value) for s in result.samples] == [
        (5, True, 10.0), (1, True, 2.0), (7, True, 14.0), (2, False, 4.0), (6, False, 12.0), (0, False, 0.0), (3, False, 6.0)]
    expected = roc_auc_score([1, 1, 1, 0, 0, 0, 0], [5, 1, 7, 2, 6, 0, 3])
    assert result.metrics == {"auroc": pytest.approx(expected), "auroc_chance": 0.5, "n_auroc": 7.0}


def test_no_examples_is_a_skip_row_and_no_explanation_raises():
    result = asyncio.run(RowValue().score(_record([], []), Explanation(LATENT, "x", "test")))
    assert result.error.startswith("skipped:") and not result.samples
    with pytest.raises(ValueError, match="test-row-value needs an explanation"):
        asyncio.run(RowValue().score(_record([1], [2]), None))
