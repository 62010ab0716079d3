"""Activating windows of one latent: where they lie, how strong they are, their per-token values.

A window is `width` tokens inside one cached row, named by (row, start). Token indices in the cache
are `row * ctx_len + position`, ascending within a latent, so every window's nonzeros are one
contiguous slice of the latent's arrays (found with `searchsorted`); nothing here loops in Python
over nonzeros.

Centered windows: every nonzero proposes the window that puts it `left` tokens from the window's
start (shifted to fit inside the row). A proposal counts only when its token is the strongest in
its window; proposals are then accepted strongest first, and one that overlaps an accepted window
is dropped. The accepted windows never overlap and each holds its maximum at the proposing token.
That search runs compiled (`_kernels.c`, one pass over the nonzeros) when the extension was built,
and in numpy otherwise; both find the same windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autointerp.examples.compiled import kernels


@dataclass
class Windows:
    """A latent's activating windows, strongest first."""

    rows: np.ndarray
    """int64 [n] cached row of each window."""
    starts: np.ndarray
    """int64 [n] first position of each window inside its row."""
    max_activation: np.ndarray
    """float32 [n] the latent's largest activation inside each window."""

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, index: np.ndarray) -> Windows:
        """The windows at `index`, in that order."""
        return Windows(self.rows[index], self.starts[index], self.max_activation[index])


def find_windows(
    token_index: np.ndarray, activations: np.ndarray, ctx_len: int, width: int, center: bool, left: int
) -> Windows:
    """Non-overlapping activating windows of one latent, sorted by max activation (descending).

    token_index: int64 [m] ascending; activations: float32 [m] (the latent's nonzeros).
    """
    if len(token_index) == 0:
        empty = np.zeros(0, np.int64)
        return Windows(empty, empty, np.zeros(0, np.float32))
    if center:
        if kernels is not None:
            return _centered_compiled(token_index, activations, ctx_len, width, left)
        return _centered_numpy(token_index, activations, ctx_len, width, left)
    rows, starts, peaks = _aligned(token_index, activations, ctx_len, width)
    # windows come in location order, so a stable sort puts the strongest first, ties by location
    order = strongest_first(peaks)
    return Windows(rows[order], starts[order], peaks[order].astype(np.float32))


def _centered_compiled(ti: np.ndarray, act: np.ndarray, ctx_len: int, width: int, left: int) -> Windows:
    ti = np.ascontiguousarray(ti, dtype=np.int64)
    act = np.ascontiguousarray(act, dtype=np.float32)
    peaks, rows, starts = (np.empty(len(ti), np.int64) for _ in range(3))
    n = kernels.centered_windows(ti, act, ctx_len, width, left, peaks, rows, starts)
    # copies: views would keep buffers sized by the nonzeros alive wherever the windows are kept
    return Windows(rows[:n].copy(), starts[:n].copy(), act[peaks[:n]])


def _centered_numpy(ti: np.ndarray, act: np.ndarray, ctx_len: int, width: int, left: int) -> Windows:
    rows, pos = np.divmod(ti, ctx_len)
    starts = np.clip(pos - left, 0, ctx_len - width)
    order = strongest_first(act)
    rank = np.empty(len(ti), np.int64)
    rank[order] = np.arange(len(ti))  # 0 = strongest
    base = rows * ctx_len + starts
    # a token alone in its window peaks there; neighbours in the sorted order tell who is alone
    alone = np.ones(len(ti), bool)
    alone[1:] &= ti[:-1] < base[1:]
    alone[:-1] &= ti[1:] >= base[:-1] + width
    is_peak = np.ones(len(ti), bool)
    crowded = np.flatnonzero(~alone)
    if len(crowded):
        lo = np.searchsorted(ti, base[crowded])
        hi = np.searchsorted(ti, base[crowded] + width)
        is_peak[crowded] = range_min(rank, lo, hi) == rank[crowded]
    cand = np.flatnonzero(is_peak)  # proposals that peak in their window
    accepted = greedy_non_overlapping(rows[cand] * (2 * ctx_len) + starts[cand], rank[cand], width)
    is_peak[cand[~accepted]] = False
    # accepted windows never overlap, so their location order is their peak tokens' order: the
    # tokens' strongest-first order, filtered, is the windows' (no second sort)
    keep = order[is_peak[order]]
    return Windows(rows[keep], starts[keep], act[keep].astype(np.float32))


def greedy_non_overlapping(key: np.ndarray, rank: np.ndarray, width: int) -> np.ndarray:
    """Accept windows strongest first, dropping any that overlaps an accepted one.

    key: int64 [c] ascending, `row * 2 * ctx_len + start`, so two windows overlap exactly when their
    keys differ by less than `width`; rank: int64 [c] distinct, 0 = strongest. Windows fall into
    clusters (maximal runs of overlapping neighbours) that the greedy settles independently:
    clusters of one, two or three windows in closed form, longer ones in rounds, where a window
    stronger than every live window it overlaps is accepted (the sequential greedy would accept it
    too) and the live windows it overlaps die. Rounds are few because peaks in one row lie at least
    about width/2 apart.
    """
    n = len(key)
    if n == 0:
        return np.zeros(0, bool)
    # clusters: maximal runs whose neighbouring keys overlap; the greedy settles each on its own
    first = np.flatnonzero(np.concatenate(([True], np.diff(key) >= width)))
    size = np.diff(np.append(first, n))
    accepted = np.repeat(size == 1, size)  # a window that overlaps no other is always accepted
    pair = first[size == 2]  # the commonest crowd: the stronger of two overlapping windows wins
    accepted[pair] = rank[pair] < rank[pair + 1]
    accepted[pair + 1] = ~accepted[pair]
    _settle_triples(accepted, key, rank, first[size == 3], width)
    if np.any(size > 3):  # longer clusters: settle their windows among themselves, in rounds
        busy = np.flatnonzero(np.repeat(size > 3, size))
        accepted[busy] = _greedy_rounds(key[busy], rank[busy], width)
    return accepted


def _settle_triples(accepted: np.ndarray, key: np.ndarray, rank: np.ndarray, a: np.ndarray, width: int) -> None:
    """The greedy on clusters of three windows a, a+1, a+2 (each overlaps its neighbour), in place.

    When the outer two overlap as well, only the strongest survives; otherwise either the middle
    one wins (it is the strongest) or both outer ones do.
    """
    b, c = a + 1, a + 2
    ra, rb, rc = rank[a], rank[b], rank[c]
    middle_wins = rb < np.minimum(ra, rc)
    all_overlap = key[c] - key[a] < width
    accepted[b] = middle_wins
    accepted[a] = ~middle_wins & (~all_overlap | (ra < rc))
    accepted[c] = ~middle_wins & (~all_overlap | (rc < ra))


def _greedy_rounds(key: np.ndarray, rank: np.ndarray, width: int) -> np.ndarray:
    n = len(key)
    lo, hi = np.searchsorted(key, key - width + 1), np.searchsorted(key, key + width)
    alive = np.ones(n, bool)
    accepted = np.zeros(n, bool)
    big = np.iinfo(np.int64).max
    while alive.any():
        best = range_min(np.where(alive, rank, big), lo, hi)
        new = alive & (best == rank)
        accepted |= new
        edges = np.bincount(lo[new], minlength=n + 1) - np.bincount(hi[new], minlength=n + 1)
        alive &= np.cumsum(edges)[:n] == 0
    return accepted


def _aligned(ti: np.ndarray, act: np.ndarray, ctx_len: int, width: int):
    per_row = ctx_len // width
    rows, pos = np.divmod(ti, ctx_len)
    slot = pos // width
    valid = slot < per_row  # a remainder shorter than a window is not used
    wid = (rows * per_row + slot)[valid]
    act = act[valid]
    if len(wid) == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0, np.float32)
    first = run_starts(wid)
    win_rows, win_slots = np.divmod(wid[first], per_row)
    return win_rows, win_slots * width, np.maximum.reduceat(act, first)


def strongest_first(values: np.ndarray) -> np.ndarray:
    """Indices ordering `values` descending, ties in index order.

    Non-negative values that float16 holds exactly (what the cache stores by default) are sorted
    by their 16-bit patterns, which numpy radix-sorts in linear time; others by a stable sort.
    """
    if len(values) and values.min() >= 0:
        half = values.astype(np.float16)
        if np.array_equal(half, values):
            return np.argsort(~half.view(np.uint16), kind="stable")
    return np.argsort(-values, kind="stable")


def range_min(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """min(values[lo[i]:hi[i]]) for every i, with a sparse table; every range must be non-empty."""
    out = np.empty(len(lo), dtype=values.dtype)
    if len(lo) == 0:
        return out
    length = hi - lo
    level = np.floor(np.log2(length)).astype(np.int64)  # block of 2**level covers half the range
    table = values
    for k in range(int(level.max()) + 1):
        if k:
            step = 1 << (k - 1)
            table = np.minimum(table[:-step], table[step:])  # min over blocks of 2**k
        sel = np.flatnonzero(level == k)
        if len(sel):
            out[sel] = np.minimum(table[lo[sel]], table[hi[sel] - (1 << k)])
    return out


def window_spans(token_index: np.ndarray, rows: np.ndarray, starts: np.ndarray, ctx_len: int, width: int):
    """(lo, hi) slices of the latent's nonzeros that fall in each window."""
    base = rows * ctx_len + starts
    return np.searchsorted(token_index, base), np.searchsorted(token_index, base + width)


def window_activations(
    token_index: np.ndarray, activations: np.ndarray, rows: np.ndarray, starts: np.ndarray, ctx_len: int, width: int
) -> np.ndarray:
    """float32 [n, width]: the latent's activation at each token of each window (0 where silent)."""
    lo, hi = window_spans(token_index, rows, starts, ctx_len, width)
    counts = hi - lo
    out = np.zeros((len(rows), width), np.float32)
    total = int(counts.sum())
    if total == 0:
        return out
    which = np.repeat(np.arange(len(rows)), counts)
    flat = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(lo, counts)
    out[which, token_index[flat] - (rows * ctx_len + starts)[which]] = activations[flat]
    return out


def window_tokens(tokens: np.ndarray, rows: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """int [n, width] token ids of each window; tokens is the cache's [n_rows, ctx_len]."""
    first = rows * tokens.shape[1] + starts
    return tokens.reshape(-1)[first[:, None] + np.arange(width)]


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """Unique values of an ascending array (cheaper than np.unique, which sorts again)."""
    if len(values) == 0:
        return values
    return values[run_starts(values)]


def run_starts(values: np.ndarray) -> np.ndarray:
    """Indices where a run of equal values begins in a non-empty array."""
    change = np.empty(len(values), bool)
    change[0] = True
    np.not_equal(values[1:], values[:-1], out=change[1:])
    return np.flatnonzero(change)
