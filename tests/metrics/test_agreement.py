"""Judge agreement against hand-computed kappa and correlations (computed here, independently)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autointerp.metrics.agreement import LatentPair, agreement, cohen_kappa, ranks, spearman


def test_kappa_of_a_hand_worked_table():
    # 10 items: both yes 4, a yes b no 1, a no b yes 2, both no 3.
    a = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    b = [1, 1, 1, 1, 0, 1, 1, 0, 0, 0]
    # p_o = 7/10; p_a(yes) = 5/10, p_b(yes) = 6/10; p_e = .5*.6 + .5*.4 = .5; kappa = (.7 - .5) / .5 = .4
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(a, a) == pytest.approx(1.0)
    assert cohen_kappa(a, [1 - x for x in a]) == pytest.approx(-1.0)


def test_kappa_is_undefined_when_both_judges_give_one_answer():
    assert math.isnan(cohen_kappa([1, 1, 1], [1, 1, 1]))
    assert math.isnan(cohen_kappa([], []))


def test_spearman_with_ties_matches_the_textbook_formula():
    x = [1.0, 2.0, 2.0, 4.0, 5.0]
    y = [2.0, 1.0, 4.0, 3.0, 5.0]
    assert list(ranks(x)) == [1.0, 2.5, 2.5, 4.0, 5.0]
    rx, ry = np.array([1, 2.5, 2.5, 4, 5]), np.array([2, 1, 4, 3, 5])
    by_hand = ((rx - rx.mean()) @ (ry - ry.mean())) / math.sqrt(((rx - rx.mean()) ** 2).sum() * ((ry - ry.mean()) ** 2).sum())
    assert spearman(x, y) == pytest.approx(by_hand)
    assert spearman([1, 2, 3, 4], [10, 20, 30, 400]) == pytest.approx(1.0)  # monotone, not linear


def pairs_of(scores_a, scores_b, verdicts):
    return [LatentPair(f"hp/{i}", list(va), list(vb), sa, sb)
            for i, (sa, sb, (va, vb)) in enumerate(zip(scores_a, scores_b, verdicts))]


def test_agreement_block_against_a_direct_computation():
    sa = [0.9, 0.8, 0.55, 0.5, 0.7, 0.6]
    sb = [0.85, 0.6, 0.6, 0.45, 0.75, 0.3]
    verdicts = [([1, 0, 1], [1, 0, 1]), ([1, 1, 0], [1, 0, 0]), ([0, 0], [0, 1]),
                ([1, 0], [1, 0]), ([1, 1, 1], [1, 1, 0]), ([0, 1], [0, 0])]
    out = agreement(pairs_of(sa, sb, verdicts), seed=3, n_boot=500)
    a = [v for va, _ in verdicts for v in va]
    b = [v for _, vb in verdicts for v in vb]
    agree = sum(x == y for x, y in zip(a, b)) / len(a)
    pa, pb = sum(a) / len(a), sum(b) / len(b)
    pe = pa * pb + (1 - pa) * (1 - pb)
    assert out["kappa"]["value"] == pytest.approx((agree - pe) / (1 - pe))
    assert out["pearson"]["value"] == pytest.approx(np.corrcoef(sa, sb)[0, 1])
    assert out["n_latents"] == 6 and out["n_verdicts"] == len(a)
    for stat in ("kappa", "pearson", "spearman"):
        assert out[stat]["ci_low"] <= out[stat]["value"] <= out[stat]["ci_high"], stat
    # the latent with the largest |difference| is hp/5 (0.3), then hp/1 (0.2)
    assert [d["latent"] for d in out["disagree_most"][:2]] == ["hp/5", "hp/1"]
    assert out["disagree_most"][0]["difference"] == pytest.approx(0.3)
    assert agreement(pairs_of(sa, sb, verdicts), seed=3, n_boot=500) == out  # seeded


def test_the_interval_resamples_latents_not_verdicts():
    """One latent with many verdicts that all agree and many latents that disagree: resampling
    latents keeps the interval wide; it must reach below zero."""
    verdicts = [([1] * 40 + [0] * 40, [1] * 40 + [0] * 40)] + [([1, 0], [0, 1])] * 5
    out = agreement(pairs_of([0.5] * 6, [0.5] * 6, verdicts), seed=0, n_boot=1000)
    assert out["kappa"]["ci_low"] < 0 < out["kappa"]["ci_high"]
    assert math.isnan(out["pearson"]["value"])  # constant scores: undefined, not 0 or 1


def test_verdicts_are_paired_by_item_not_by_position():
    from autointerp.pipeline.second_judge import verdict_pairs
    from autointerp.records import Latent, ScoredSample, ScoreResult

    def result(items):
        return ScoreResult(Latent("hp", 0), "detection", "x",
                           samples=[ScoredSample(row=r, start=0, role="test", activating=True, prediction=p, kind=k)
                                    for r, k, p in items])

    a = result([(1, None, True), (2, None, False), (3, "wrong", True), (3, "correct", None)])
    b = result([(3, "wrong", False), (2, None, False), (1, None, True), (4, None, True), (3, "correct", True)])
    assert verdict_pairs(a, b) == ([True, False, True], [True, False, False])
