"""Property tests of window placement against a plain sequential reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autointerp.examples import windows
from autointerp.examples.windows import find_windows, range_min, strongest_first, window_activations

# both searches are checked against the sequential reference: the compiled one find_windows uses,
# and the numpy one an install without a C compiler falls back to
SEARCHES = [windows._centered_compiled, windows._centered_numpy]


def _latent(seed: int, n_rows: int, ctx_len: int, density: float, distinct: bool):
    """A latent's nonzeros as (token_index ascending, activations), plus the dense [n_rows, ctx_len]."""
    rng = np.random.default_rng(seed)
    fire = rng.random((n_rows, ctx_len)) < density
    if distinct:
        values = rng.permutation(n_rows * ctx_len).reshape(n_rows, ctx_len).astype(np.float32) + 1
    else:  # many ties
        values = rng.integers(1, 4, (n_rows, ctx_len)).astype(np.float32)
    dense = np.where(fire, values, 0).astype(np.float32)
    token_index = np.flatnonzero(dense)
    return token_index.astype(np.int64), dense.ravel()[token_index], dense


def _reference_centered(token_index, acts, ctx_len, width, left):
    """Sequential greedy: strongest first; a proposal counts when it is its window's strongest token
    (earlier token wins a tie) and its window overlaps no accepted window."""
    order = sorted(range(len(acts)), key=lambda i: (-acts[i], token_index[i]))
    rank = {i: r for r, i in enumerate(order)}
    accepted = []
    for i in order:
        row, pos = divmod(int(token_index[i]), ctx_len)
        start = min(max(pos - left, 0), ctx_len - width)
        inside = [j for j in range(len(acts)) if row * ctx_len + start <= token_index[j] < row * ctx_len + start + width]
        if min(rank[j] for j in inside) != rank[i]:
            continue
        if any(r == row and abs(s - start) < width for r, s, _ in accepted):
            continue
        accepted.append((row, start, acts[i]))
    return sorted(accepted, key=lambda w: (-w[2], w[0] * ctx_len + w[1]))


layouts = st.tuples(
    st.integers(0, 10_000),  # seed
    st.integers(1, 4),  # rows
    st.integers(1, 48),  # ctx_len
    st.floats(0.02, 0.9),  # density
    st.booleans(),  # distinct values
).flatmap(
    lambda t: st.tuples(st.just(t), st.integers(1, t[2])).flatmap(
        lambda tw: st.tuples(st.just(tw[0]), st.just(tw[1]), st.integers(0, tw[1] - 1))
    )
)


def test_the_compiled_search_is_built_and_used():
    # `make install` compiles it; a silent fallback to numpy would leave it untested here
    assert windows.kernels is not None
    token_index, acts, _ = _latent(0, 3, 64, 0.3, True)
    found = find_windows(token_index, acts, 64, 16, center=True, left=8)
    assert found.rows.dtype == np.int64 and found.starts.dtype == np.int64 and found.max_activation.dtype == np.float32


@pytest.mark.parametrize("search", SEARCHES, ids=["compiled", "numpy"])
@settings(max_examples=150, deadline=None)
@given(layout=layouts)
def test_centered_windows_match_sequential_greedy(search, layout):
    (seed, n_rows, ctx_len, density, distinct), width, left = layout
    token_index, acts, dense = _latent(seed, n_rows, ctx_len, density, distinct)
    found = search(token_index, acts, ctx_len, width, left)
    expected = _reference_centered(token_index, acts, ctx_len, width, left)
    assert [(int(r), int(s)) for r, s in zip(found.rows, found.starts)] == [(r, s) for r, s, _ in expected]
    assert found.max_activation.tolist() == [a for _, _, a in expected]


@pytest.mark.parametrize("left", [0, 5, 16, 31])
def test_compiled_and_numpy_searches_agree_on_large_latents(left):
    """Cache-sized rows, float16 values (ties), signed float32 values, and crowds far past the compiled
    insertion sort's 16: with left=0, falling values make every token of a row a proposal that
    overlaps the next."""
    rng = np.random.default_rng(left)
    ctx_len, width, n_rows = 256, 32, 60
    for density, signed in ((0.005, False), (0.05, False), (0.5, False), (1.0, False), (0.3, True)):
        fire = rng.random((n_rows, ctx_len)) < density
        values = rng.exponential(2.0, (n_rows, ctx_len)).astype(np.float16).astype(np.float32) + np.float32(0.01)
        if signed:  # full float32 precision and negative values: numpy's general sort, the C key's sign flip
            values = rng.normal(0.0, 2.0, (n_rows, ctx_len)).astype(np.float32)
        values[:4] = np.linspace(50, 1, ctx_len, dtype=np.float32)  # falling rows: one long crowd each
        values[4:6] = 3.0  # all ties: earlier tokens win
        dense = np.where(fire | (np.arange(n_rows) < 6)[:, None], values, 0).astype(np.float32)
        token_index = np.flatnonzero(dense).astype(np.int64)
        acts = dense.ravel()[token_index]
        a = windows._centered_compiled(token_index, acts, ctx_len, width, left)
        b = windows._centered_numpy(token_index, acts, ctx_len, width, left)
        np.testing.assert_array_equal(a.rows, b.rows)
        np.testing.assert_array_equal(a.starts, b.starts)
        np.testing.assert_array_equal(a.max_activation, b.max_activation)


def test_compiled_search_refuses_mismatched_buffers():
    out = [np.empty(4, np.int64) for _ in range(3)]
    with pytest.raises(ValueError, match="same length"):
        windows.kernels.centered_windows(np.arange(4, dtype=np.int64), np.ones(3, np.float32), 8, 4, 2, *out)
    with pytest.raises(ValueError, match="same length"):
        windows.kernels.centered_windows(np.arange(4, dtype=np.int64), np.ones(4, np.float32), 8, 4, 2, *out[:2], out[2][:3])
    with pytest.raises(ValueError, match="left < width"):
        windows.kernels.centered_windows(np.arange(4, dtype=np.int64), np.ones(4, np.float32), 8, 4, 4, *out)


@settings(max_examples=150, deadline=None)
@given(layouts)
def test_centered_window_properties(layout):
    (seed, n_rows, ctx_len, density, distinct), width, left = layout
    token_index, acts, dense = _latent(seed, n_rows, ctx_len, density, distinct)
    found = find_windows(token_index, acts, ctx_len, width, center=True, left=left)
    assert len(found) > 0 or len(acts) == 0
    # sorted by max activation, strongest first
    assert np.all(np.diff(found.max_activation) <= 0)
    # inside the row; never overlapping
    assert np.all((found.starts >= 0) & (found.starts + width <= ctx_len))
    for i in range(len(found)):
        for j in range(i + 1, len(found)):
            assert found.rows[i] != found.rows[j] or abs(int(found.starts[i]) - int(found.starts[j])) >= width
    values = window_activations(token_index, acts, found.rows, found.starts, ctx_len, width)
    for i, (row, start) in enumerate(zip(found.rows, found.starts)):
        window = dense[row, start : start + width]
        np.testing.assert_array_equal(values[i], window)
        assert window.max() == found.max_activation[i]
        # the strongest token sits `left` tokens in, unless the window was shifted at a row edge
        peak = start + int(np.argmax(window))
        assert start == min(max(peak - left, 0), ctx_len - width)
        if 0 < start < ctx_len - width:
            assert peak - start == left
    # the strongest nonzero always gets its window
    if len(acts):
        assert found.max_activation[0] == acts.max()


@settings(max_examples=100, deadline=None)
@given(layouts)
def test_aligned_windows_are_the_grid_slots_that_fire(layout):
    (seed, n_rows, ctx_len, density, distinct), width, _ = layout
    token_index, acts, dense = _latent(seed, n_rows, ctx_len, density, distinct)
    found = find_windows(token_index, acts, ctx_len, width, center=False, left=0)
    expected = set()
    for row in range(n_rows):
        for start in range(0, ctx_len - width + 1, width):
            if dense[row, start : start + width].any():
                expected.add((row, start))
    assert {(int(r), int(s)) for r, s in zip(found.rows, found.starts)} == expected
    assert np.all(np.diff(found.max_activation) <= 0)
    for row, start, peak in zip(found.rows, found.starts, found.max_activation):
        assert dense[row, start : start + width].max() == peak


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-50, 50), min_size=1, max_size=80), st.integers(0, 10_000))
def test_range_min_matches_slices(values, seed):
    values = np.asarray(values)
    rng = np.random.default_rng(seed)
    lo = rng.integers(0, len(values), 40)
    hi = lo + 1 + (rng.integers(0, len(values), 40) % (len(values) - lo))
    expected = [values[a:b].min() for a, b in zip(lo, hi)]
    np.testing.assert_array_equal(range_min(values, lo, hi), expected)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([0.0, 0.5, 1.0, 1.5, 3.25, 1e-3, 7.0, 0.1, -2.0]), max_size=60))
def test_strongest_first_is_a_stable_descending_order(values):
    values = np.asarray(values, dtype=np.float32)
    expected = sorted(range(len(values)), key=lambda i: (-values[i], i))
    assert strongest_first(values).tolist() == expected
