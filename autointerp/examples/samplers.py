"""Train and test samplers over a latent's activating windows (indices into a strongest-first list).

Test windows are drawn first, by quantile, from all windows; train windows are then drawn from
what is left, so the two sets are disjoint by construction.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


def quantile_bins(n_windows: int, n_quantiles: int) -> np.ndarray:
    """int64 [n_windows] bin of each window of a strongest-first list; equal counts, 0 = strongest."""
    return (np.arange(n_windows, dtype=np.int64) * n_quantiles) // max(n_windows, 1)


class Sampler(ABC):
    """Chooses `n` windows from a pool; the pool is ascending indices (strongest first)."""

    @abstractmethod
    def sample(self, pool: np.ndarray, quantiles: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """Indices drawn from `pool` (at most `n`, no repeats), ascending."""


class TopSampler(Sampler):
    """The `n` strongest windows of the pool."""

    def sample(self, pool: np.ndarray, quantiles: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """The first `n` of the pool."""
        return pool[:n]


class RandomSampler(Sampler):
    """`n` windows uniformly at random from the pool."""

    def sample(self, pool: np.ndarray, quantiles: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """A uniform draw without replacement."""
        return np.sort(rng.choice(pool, size=min(n, len(pool)), replace=False))


class QuantileSampler(Sampler):
    """Equal numbers of windows from every quantile bin present in the pool, at random inside a bin.

    When a bin holds fewer windows than its share, the missing ones are drawn from the other bins,
    so the sampler returns `min(n, len(pool))` windows. Quantiles must not decrease along the pool
    (true of bins over a strongest-first list), so each bin is one run of the pool.
    """

    def sample(self, pool: np.ndarray, quantiles: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """A stratified draw without replacement."""
        if n >= len(pool):
            return pool.copy()
        bins = quantiles[pool]
        # bins ascend along the pool: each bin's run found by binary search, not a pass over the pool
        edges = np.searchsorted(bins, np.arange(bins[0], bins[-1] + 2))
        present = edges[1:] > edges[:-1]
        first, sizes = edges[:-1][present], np.diff(edges)[present]
        quota = _fill_quotas(sizes, n)
        if len(pool) >= 16 * n and np.all(4 * quota <= sizes):  # few draws: cost independent of the pool
            chosen = _draw_distinct(first, sizes, quota, rng)
            if chosen is not None:
                return np.sort(pool[chosen])
        # bins are runs of the pool: sort by bin plus a random key in [0, 1) and keep, in every
        # bin, the `quota` windows with the smallest keys
        order = np.argsort(bins - bins[0] + rng.random(len(pool)))
        rank_in_bin = np.arange(len(pool)) - np.repeat(first, sizes)
        return np.sort(pool[order[rank_in_bin < np.repeat(quota, sizes)]])


class MixSampler(Sampler):
    """`ratio_top` of the windows from the top of the pool, the rest by quantiles from the remainder."""

    def __init__(self, ratio_top: float = 0.2):
        """ratio_top: the share of the train windows taken from the top; the rest are drawn by quantiles."""
        if not isinstance(ratio_top, (int, float)) or not 0.0 <= ratio_top <= 1.0:
            raise ValueError(f"ratio_top must lie in [0, 1], got {ratio_top!r}")
        self.ratio_top = ratio_top

    def sample(self, pool: np.ndarray, quantiles: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """Top part, then a stratified draw from the rest."""
        n_top = min(int(round(n * self.ratio_top)), len(pool))
        top = pool[:n_top]
        rest = QuantileSampler().sample(pool[n_top:], quantiles, n - n_top, rng)
        return np.sort(np.concatenate([top, rest]))


def split_train_test(
    quantiles: np.ndarray, n_train: int, n_test: int, train_sampler: Sampler, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) window indices: test by quantiles from all windows, train from the rest."""
    train, _, test = split_train_select_test(quantiles, n_train, 0, n_test, train_sampler, rng)
    return train, test


def split_train_select_test(
    quantiles: np.ndarray, n_train: int, n_select: int, n_test: int, train_sampler: Sampler, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, select, test) window indices, pairwise disjoint: test by quantiles from all windows,
    select by quantiles from the rest, train from what is left. Without select windows the draws
    are exactly those of `split_train_test`."""
    everything = np.arange(len(quantiles), dtype=np.int64)
    test = QuantileSampler().sample(everything, quantiles, n_test, rng)
    free = np.ones(len(quantiles), bool)
    free[test] = False
    select = np.zeros(0, np.int64)
    if n_select > 0:
        select = QuantileSampler().sample(everything[free], quantiles, n_select, rng)
        free[select] = False
    train = train_sampler.sample(everything[free], quantiles, n_train, rng)
    return train, select, test


def _draw_distinct(first: np.ndarray, sizes: np.ndarray, quota: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """Positions: `quota[b]` distinct ones uniformly from run b (`first[b]` onwards, `sizes[b]` long).

    Draws 3x the quota with repeats and keeps, per run, the first `quota` distinct draws: the same
    law as drawing without replacement. None in the rare case a run got too few distinct draws.
    """
    run = np.repeat(np.arange(len(sizes)), 3 * quota)
    pos = first[run] + (rng.random(len(run)) * sizes[run]).astype(np.int64)
    _, seen = np.unique(pos, return_index=True)
    seen.sort()  # first occurrences, in draw order (runs stay grouped)
    pos, run = pos[seen], run[seen]
    rank = np.arange(len(run)) - np.searchsorted(run, run)  # draw order inside the run
    got = np.bincount(run, minlength=len(sizes))
    if np.any(got < quota):
        return None
    return pos[rank < quota[run]]


def _fill_quotas(sizes: np.ndarray, n: int) -> np.ndarray:
    """Spread `n` over bins of the given sizes as evenly as their sizes allow (n <= sizes.sum())."""
    even = n // len(sizes) + (np.arange(len(sizes)) < n % len(sizes))
    if np.all(even <= sizes):  # the common case: every bin can give an equal share
        return even
    quota = np.zeros(len(sizes), np.int64)
    remaining = n
    while remaining > 0:
        open_bins = np.flatnonzero(quota < sizes)
        share = np.zeros(len(sizes), np.int64)
        share[open_bins] = remaining // len(open_bins)
        share[open_bins[: remaining % len(open_bins)]] += 1
        add = np.minimum(share, sizes - quota)
        quota += add
        remaining -= int(add.sum())
    return quota
