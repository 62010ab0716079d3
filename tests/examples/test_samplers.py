"""Samplers: sizes, disjointness, per-quantile counts, and uniformity of the stratified draw."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from autointerp.examples.samplers import MixSampler, QuantileSampler, RandomSampler, TopSampler, quantile_bins, split_train_test


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 400), st.integers(1, 12), st.integers(0, 60), st.integers(0, 60),
       st.sampled_from(["top", "random", "quantiles", "mix"]), st.integers(0, 10_000))  # fmt: skip
def test_split_is_disjoint_and_stratified(n_windows, n_quantiles, n_train, n_test, train_type, seed):
    quantiles = quantile_bins(n_windows, n_quantiles)
    assert np.all(np.diff(quantiles) >= 0) and quantiles.max() < n_quantiles
    train, test = split_train_test(quantiles, n_train, n_test, {"top": TopSampler(), "random": RandomSampler(), "quantiles": QuantileSampler(), "mix": MixSampler(0.3)}[train_type], np.random.default_rng(seed))
    assert len(test) == min(n_test, n_windows) and len(np.unique(test)) == len(test)
    assert len(train) == min(n_train, n_windows - len(test)) and len(np.unique(train)) == len(train)
    assert not set(train.tolist()) & set(test.tolist())
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)  # ascending = strongest first
    counts = np.bincount(quantiles[test], minlength=n_quantiles)
    sizes = np.bincount(quantiles, minlength=n_quantiles)
    # equal shares, except where a bin is too small (then it gives all it has)
    assert counts.max() - counts[counts < sizes].min(initial=counts.max()) <= 1


def test_quantile_draws_are_uniform_inside_each_bin():
    quantiles = quantile_bins(1000, 10)  # bins of 100; 5 per bin -> the fast path
    hits = np.zeros(1000)
    rng = np.random.default_rng(1)
    for _ in range(2000):
        hits[QuantileSampler().sample(np.arange(1000), quantiles, 50, rng)] += 1
    # each window is chosen with probability 5/100: 100 times in 2000 draws, sd ~ 9.7
    assert abs(hits.mean() - 100) < 1e-9
    assert hits.min() > 55 and hits.max() < 145
    assert abs(hits[:500].mean() - hits[500:].mean()) < 3
