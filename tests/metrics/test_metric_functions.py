"""Metrics against hand-computed values and scikit-learn."""

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from autointerp.metrics import (QualityBar, aggregate, auroc, bootstrap_ci, classification_metrics, confusion,
                                latent_statistics, pearson, pooled_correlation)
from autointerp.records import Latent, ScoreResult


def test_hand_computed_confusion_and_metrics():
    truth = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    pred = [1, 1, 1, 0, 1, 0, 0, 0, 0, 0]
    assert confusion(truth, pred) == (3, 1, 5, 1)
    m = classification_metrics(truth, pred)
    assert m["recall"] == 3 / 4 and m["precision"] == 3 / 4
    assert m["balanced_accuracy"] == pytest.approx((3 / 4 + 5 / 6) / 2)
    assert m["accuracy"] == 0.8 and m["f1"] == pytest.approx(0.75)
    assert m["accuracy_chance"] == 0.6 and m["precision_chance"] == 0.4
    assert m["balanced_accuracy_chance"] == 0.5 and m["f1_chance"] == pytest.approx(0.4 / 0.9)


@pytest.mark.parametrize("seed", range(5))
def test_against_sklearn(seed):
    rng = np.random.default_rng(seed)
    truth = rng.random(40) < 0.3
    pred = rng.random(40) < 0.5
    scores = rng.random(40).round(1)  # rounded: ties are common
    m = classification_metrics(truth, pred)
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(truth, pred))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(truth, pred))
    assert m["precision"] == pytest.approx(skm.precision_score(truth, pred, zero_division=np.nan))
    assert m["recall"] == pytest.approx(skm.recall_score(truth, pred))
    assert m["f1"] == pytest.approx(skm.f1_score(truth, pred))
    assert auroc(truth, scores) == pytest.approx(skm.roc_auc_score(truth, scores))


def test_trivial_answers_score_chance():
    truth = [1] * 3 + [0] * 7
    m = classification_metrics(truth, [0] * 10)  # "always no" on an unbalanced set
    assert m["accuracy"] == 0.7 == m["accuracy_chance"]
    assert m["balanced_accuracy"] == 0.5 and m["f1"] == 0.0 and math.isnan(m["precision"])
    assert math.isnan(auroc([1, 1], [0.2, 0.9]))


def test_pooled_correlation_by_hand():
    pred = [[0, 1, 2], [4, 0]]
    true = [[0, 2, 2], [3, 1]]
    x, y = np.array([0, 1, 2, 4, 0.0]), np.array([0, 2, 2, 3, 1.0])
    xc, yc = x - x.mean(), y - y.mean()
    by_hand = (xc @ yc) / math.sqrt((xc @ xc) * (yc @ yc))
    assert pooled_correlation(pred, true) == pytest.approx(by_hand)
    assert pearson([1, 2, 3], [2, 4, 7]) == pytest.approx(np.corrcoef([1, 2, 3], [2, 4, 7])[0, 1])
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match="sequence 1"):
        pooled_correlation([[0], [1, 2]], [[0], [1]])


def test_bootstrap_interval_is_seeded_and_covers_the_mean():
    values = list(np.linspace(0.2, 0.9, 30))
    low, high = bootstrap_ci(values, seed=3)
    assert (low, high) == bootstrap_ci(values, seed=3)
    assert low < np.mean(values) < high and high - low < 0.25
    assert all(math.isnan(v) for v in bootstrap_ci([0.4]))  # one latent has no spread: no interval
    assert all(math.isnan(v) for v in bootstrap_ci([]))


def result(index, scorer="detection", error=None, unparseable=0, **metrics):
    return ScoreResult(latent=Latent("layers.0", index), scorer=scorer, explanation="x", metrics=metrics,
                       error=error, n_unparseable=unparseable, prompt_tokens=10, completion_tokens=2)


def test_aggregate_pools_over_latents_with_counts_and_quality():
    results = [
        result(0, f1=0.8, precision=0.9, recall=0.7, f1_chance=0.4, unparseable=1, balanced_accuracy=0.8),
        result(1, f1=0.6, precision=0.9, recall=0.7, f1_chance=0.5, balanced_accuracy=0.7),
        result(2, f1=math.nan, precision=math.nan, recall=0.0, f1_chance=0.4, balanced_accuracy=math.nan),
        result(3, error="skipped: too few examples"),
        result(4, error="all 4 prompts failed: timeout", unparseable=2),
        result(0, scorer="intruder", accuracy=1.0, accuracy_chance=0.2),
    ]
    summary = aggregate(results)
    det = summary["detection"]
    assert det["n_latents"] == 5 and det["n_failed"] == 1 and det["n_skipped"] == 1
    assert det["n_unparseable"] == 3 and det["prompt_tokens"] == 50
    assert det["metrics"]["f1"]["mean"] == pytest.approx(0.7) and det["metrics"]["f1"]["n"] == 2
    assert det["metrics"]["f1"]["chance"] == pytest.approx(0.4333333)
    assert det["metrics"]["f1"]["n_nan"] == 1  # scored but undefined: counted, not dropped silently
    assert det["metrics"]["recall"]["n"] == 3
    assert det["n_high_quality"] == 1 and det["n_quality_judged"] == 2
    assert summary["intruder"]["metrics"]["accuracy"]["chance"] == 0.2
    strict = aggregate(results, quality=QualityBar(balanced_accuracy=0.9))
    assert strict["detection"]["n_high_quality"] == 0
    # coverage and intention to treat: 4 latents asked (the skipped one never was), 3 scored
    assert (det["n_asked"], det["n_scored"], det["coverage"]) == (4, 3, 0.75)
    # f1: 0.8 and 0.6 scored; the NaN at its chance 0.4; the failed latent at the mean chance
    f1_chance = (0.4 + 0.5 + 0.4) / 3
    assert det["metrics"]["f1"]["itt"] == pytest.approx((0.8 + 0.6 + 0.4 + f1_chance) / 4)
    assert det["metrics"]["f1"]["n_asked"] == 4


def test_quality_bar_and_latent_statistics():
    assert QualityBar().met({"balanced_accuracy": 0.76}) is True
    assert QualityBar().met({"balanced_accuracy": 0.76, "auroc": 0.79}) is False
    assert QualityBar().met({"auroc": 0.85}) is True
    assert QualityBar().met({"balanced_accuracy": math.nan}) is None
    assert QualityBar().met({"correlation": 0.9}) is None
    # an always-"yes" judge on a set with few negatives passes the spec's absolute bar, not this one
    from autointerp.metrics import classification_metrics

    always_yes = classification_metrics([True] * 18 + [False] * 2, [True] * 20)
    assert always_yes["f1"] > 0.7 and always_yes["precision"] > 0.8 and always_yes["recall"] > 0.6
    assert QualityBar().met(always_yes) is False
    from interp_fixtures import make_record

    stats = latent_statistics(make_record())
    assert stats == {"firing_rate": 0.01, "mean_activation": 5.0, "max_activation": 8.0, "n_activating": 16.0}
