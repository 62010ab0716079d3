"""The vectorized greedy over overlapping windows against a plain sequential loop."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from autointerp.examples.windows import greedy_non_overlapping


def _sequential(key: np.ndarray, rank: np.ndarray, width: int) -> np.ndarray:
    """Strongest (lowest rank) first; keep a window when it overlaps no kept window."""
    accepted = np.zeros(len(key), bool)
    for i in np.argsort(rank):
        if not any(accepted[j] and abs(int(key[j]) - int(key[i])) < width for j in range(len(key))):
            accepted[i] = True
    return accepted


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 60), st.integers(1, 12), st.integers(1, 40))
def test_greedy_matches_the_sequential_loop(seed, n, width, spread):
    rng = np.random.default_rng(seed)
    key = np.sort(rng.choice(n * spread + width, size=min(n, n * spread + width), replace=False)).astype(np.int64)
    rank = rng.permutation(len(key)).astype(np.int64)
    found = greedy_non_overlapping(key, rank, width)
    assert np.array_equal(found, _sequential(key, rank, width))
