"""`RecordBuilder`: one `LatentRecord` per latent from the cache — windows, samples, negatives, statistics."""

from __future__ import annotations

import logging
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from autointerp.examples.config import DEFAULT_SEED, ExamplesConfig
from autointerp.examples.decoding import TokenDecoder
from autointerp.examples.non_activating import Candidates, FaissSource, NeighboursSource, NonActivatingSource, Query, RandomSource
from autointerp.examples.samplers import QuantileSampler, Sampler, quantile_bins, split_train_select_test
from autointerp.examples.view import CacheView
from autointerp.examples.windows import (
    Windows,
    find_windows,
    greedy_non_overlapping,
    strongest_first,
    window_activations,
    window_spans,
    window_tokens,
)
from autointerp.latents.format import CacheReader, LatentActivations
from autointerp.records import ActivatingExample, Latent, LatentRecord, NonActivatingExample

logger = logging.getLogger(__name__)


class RecordBuilder:
    """Builds records latent by latent; per-run state (neighbours, FAISS index) is prepared once, lazily."""

    top_windows_cache_size = 4096
    """Neighbour latents whose top windows are kept between records."""

    def __init__(
        self,
        reader: CacheReader,
        config: ExamplesConfig,
        tokenizer: Any = None,
        *,
        decoder_weights: dict[str, np.ndarray] | None = None,
        encoder_weights: dict[str, np.ndarray] | None = None,
        cache_dir: str | Path | None = None,
        train_sampler: Sampler | None = None,
        source: NonActivatingSource | None = None,
    ):
        self.reader = reader
        self.config = config
        self.tokenizer = tokenizer
        self.ctx_len = reader.ctx_len
        self.width = config.example_ctx_len
        self.seed = config.seed if config.seed is not None else DEFAULT_SEED  # None outside a run
        self.n_rows = reader.manifest.n_rows
        self.n_tokens = reader.manifest.total_tokens
        self.cache_dir = Path(cache_dir) if cache_dir is not None else reader.dir / "embeddings"
        self._weights = {"decoder_similarity": decoder_weights, "encoder_similarity": encoder_weights}
        self.train_sampler = train_sampler or config.train_sampler or QuantileSampler()
        self.source = source or config.non_activating or RandomSource()
        self._check_settings()
        self.view = CacheView(
            reader=reader, ctx_len=self.ctx_len, width=self.width, n_rows=self.n_rows, seed=self.seed,
            cache_dir=self.cache_dir, top_windows=self.top_windows, weights_for=self.weights_for,
            decode_windows=self.decode_windows,
        )
        """What the non-activating source may read (it never gets the builder)."""
        self.skipped: dict[str, list[int]] = {hp: [] for hp in reader.hookpoints}
        """Latents skipped per hookpoint (too few activating windows), in build order."""
        self.skip_reasons: dict[Latent, str] = {}
        """Why each skipped latent was skipped."""
        self.n_built = 0
        self._prepared = False
        self._top: OrderedDict[tuple[str, int], Windows] = OrderedDict()
        self._vocab = np.full(0, None, dtype=object)  # token id -> decoded string
        self._known = np.zeros(0, bool)
        self._decoder: TokenDecoder | None = None

    def _check_settings(self) -> None:
        """Refuse settings that cannot work with this cache before any heavy work."""
        if self.width > self.ctx_len:
            raise ValueError(f"example_ctx_len ({self.width}) exceeds the cache's ctx_len ({self.ctx_len})")
        source = self.source
        if isinstance(source, NeighboursSource) and source.neighbours_type != "co-occurrence":
            kind = "decoder_weights" if source.neighbours_type == "decoder_similarity" else "encoder_weights"
            if self._weights[source.neighbours_type] is None:
                raise ValueError(f"neighbours_type={source.neighbours_type} needs {kind} for every hookpoint")
        if isinstance(source, FaissSource) and self.tokenizer is None:
            raise ValueError("non_activating: FaissSource needs a tokenizer to turn windows into text")

    @property
    def tokens(self) -> np.ndarray:
        """int32 [n_rows, ctx_len] the cache's tokens."""
        return self.reader.tokens

    def weights_for(self, neighbours_type: str, hookpoint: str) -> np.ndarray:
        """The weight matrix a weight-similarity neighbours type uses at a hookpoint."""
        weights = self._weights[neighbours_type] or {}
        if hookpoint not in weights:
            raise ValueError(f"neighbours_type={neighbours_type}: no weights given for hookpoint {hookpoint!r}")
        return weights[hookpoint]

    def select_latents(
        self,
        hookpoints: list[str] | None = None,
        max_latents: int | None = None,
        latents: dict[str, list[int]] | None = None,
    ) -> list[Latent]:
        """The latents to build: an explicit list per hookpoint, or the first `max_latents` (or all)."""
        chosen = list(latents) if latents is not None else list(hookpoints or self.reader.hookpoints)
        out = []
        for hookpoint in chosen:
            if hookpoint not in self.reader.hookpoints:
                raise ValueError(f"hookpoint {hookpoint!r} is not in the cache (it has {self.reader.hookpoints})")
            d_sae = self.reader.d_sae(hookpoint)
            if latents is not None:
                indices = [int(i) for i in latents[hookpoint]]
                bad = [i for i in indices if not 0 <= i < d_sae]
                if bad:
                    raise ValueError(f"latents for {hookpoint}: indices {bad[:5]} lie outside [0, {d_sae})")
            else:
                indices = list(range(d_sae if max_latents is None else min(max_latents, d_sae)))
            out.extend(Latent(hookpoint, i) for i in indices)
        return out

    def summary(self) -> dict[str, Any]:
        """Counts for the run's summary: built, skipped (with indices per hookpoint)."""
        return {
            "n_built": self.n_built,
            "n_skipped": sum(len(v) for v in self.skipped.values()),
            "skipped": {hp: list(v) for hp, v in self.skipped.items() if v},
        }

    def rng(self, latent: Latent) -> np.random.Generator:
        """The latent's own seeded generator: records do not depend on build order."""
        return np.random.default_rng([self.seed, zlib.crc32(latent.hookpoint.encode()), latent.index])

    def windows(self, acts: LatentActivations) -> Windows:
        """A latent's non-overlapping activating windows, strongest first."""
        c = self.config
        return find_windows(acts.token_index, acts.activations, self.ctx_len, self.width, c.center_examples, c.left)

    def top_windows(self, hookpoint: str, index: int, n: int) -> Windows:
        """Up to `n` non-overlapping windows of another latent, placed as centered windows are
        around its strongest tokens (looked for among its 4n strongest, or by the full window search
        when those crowd into fewer than n windows), strongest first."""
        key = (hookpoint, index)
        found = self._top.get(key)
        if found is None or len(found) < n:
            acts = self.reader.latent(hookpoint, index)
            values, m = acts.activations, 4 * n
            top = _strongest(values, m)
            rows, pos = np.divmod(acts.token_index[top], self.ctx_len)
            starts = np.clip(pos - self.config.left, 0, self.ctx_len - self.width)
            place = rows * (2 * self.ctx_len) + starts
            by_place = np.argsort(place, kind="stable")
            kept = np.sort(by_place[greedy_non_overlapping(place[by_place], by_place, self.width)])[:n]
            found = Windows(rows[kept], starts[kept], values[top][kept])
            if len(found) < n and len(values) > m:  # its strongest tokens crowd together
                found = self.windows(acts).take(slice(0, n))
            self._top[key] = found
            if len(self._top) > self.top_windows_cache_size:
                self._top.popitem(last=False)
        return found.take(slice(0, n))

    def build(self, latent: Latent) -> LatentRecord | None:
        """The latent's record, or None (recorded in `skipped`) when it has too few activating windows."""
        acts = self.reader.latent(latent.hookpoint, latent.index)
        windows = self.windows(acts)
        if len(windows) < max(self.config.min_examples, 1):
            self._skip(latent, f"{len(windows)} activating windows < min_examples={self.config.min_examples}")
            return None
        rng = self.rng(latent)
        quantiles = quantile_bins(len(windows), self.config.n_quantiles)
        c = self.config
        train_idx, select_idx, test_idx = split_train_select_test(
            quantiles, c.n_examples_train, c.n_examples_select, c.n_examples_test, self.train_sampler, rng
        )
        if len(train_idx) == 0 and c.n_examples_train > 0:  # nothing to explain from: a skip with its reason, not a failure
            self._skip(latent, f"{len(windows)} activating windows all went to the held-out splits "
                               f"(n_examples_test={c.n_examples_test}, n_examples_select={c.n_examples_select}): none left to explain from")
            return None
        record = LatentRecord(latent=latent, n_activating=len(windows))
        self._statistics(record, acts)
        every = np.concatenate([train_idx, test_idx, select_idx])
        built = self._activating(acts, windows, every, quantiles, record.max_activation)
        n_train, n_test = len(train_idx), len(test_idx)
        record.train, record.test, record.select = built[:n_train], built[n_train : n_train + n_test], built[n_train + n_test :]
        for role, examples in (("test", record.test), ("select", record.select)):
            for example in examples:
                example.role = role
        self._negatives(record, acts, windows.take(train_idx), rng)
        self.n_built += 1
        return record

    def _skip(self, latent: Latent, reason: str) -> None:
        self.skipped.setdefault(latent.hookpoint, []).append(latent.index)
        self.skip_reasons[latent] = reason
        logger.debug("skipping %s: %s", latent, reason)

    def _statistics(self, record: LatentRecord, acts: LatentActivations) -> None:
        values = acts.activations
        record.n_nonzero = len(values)
        record.firing_rate = len(values) / self.n_tokens
        record.mean_activation = float(values.mean())
        record.max_activation = float(values.max())

    def _activating(
        self, acts: LatentActivations, windows: Windows, idx: np.ndarray, quantiles: np.ndarray, top: float
    ) -> list[ActivatingExample]:
        """Examples (role `train`) for the windows at `idx`, in that order."""
        chosen = windows.take(idx)
        values = window_activations(acts.token_index, acts.activations, chosen.rows, chosen.starts, self.ctx_len, self.width)
        tokens = window_tokens(self.tokens, chosen.rows, chosen.starts, self.width)
        # scaled against the latent's maximum over the whole cache, rounded to 0..10
        scale = 10.0 / top if top > 0 else 0.0
        normalized = np.clip(np.rint(values * scale), 0, 10).astype(np.int8)
        strings = self.decode_tokens(tokens) or [None] * len(idx)
        columns = zip(chosen.rows.tolist(), chosen.starts.tolist(), tokens, values, strings, normalized, quantiles[idx].tolist())
        # positional: keyword arguments cost twice as much per example (benchmarks/compiled_loops.py), ~140 per record
        return [ActivatingExample(r, s, t, a, "train", st, z, q) for r, s, t, a, st, z, q in columns]

    def _negatives(self, record: LatentRecord, acts: LatentActivations, train: Windows, rng: np.random.Generator) -> None:
        """Fill both negative lists (disjoint) and the shortfall."""
        total = self.config.n_negatives_total
        if total == 0:
            return
        if not self._prepared:
            self.source.prepare(self.view)
            self._prepared = True
        shown = record.train or record.test  # what the query stands for (test only when no train)
        rows = np.array([e.row for e in shown], dtype=np.int64)
        starts = np.array([e.start for e in shown], dtype=np.int64)
        peaks = starts + (np.stack([e.activations for e in shown]).argmax(axis=1) if shown else 0)
        query = Query(record.latent, acts, train, rows, peaks)
        used = record.train + record.test + record.select
        # each activating window overlaps at most two aligned candidates: ask for that many more
        candidates = self.source.propose(self.view, query, total + 2 * len(used), rng)
        apart = self._apart(candidates, np.array([e.row for e in used], np.int64),
                            np.array([e.start for e in used], np.int64))
        chosen = self._silent_non_overlapping(acts, candidates, total, apart)
        record.negative_shortfall = total - len(chosen)
        # interleave so both lists get equally hard negatives; a shortfall shrinks both in proportion
        found = len(chosen)
        to_explainer = _interleaved(found, self.config.n_explainer_negatives * found // total)
        record.explainer_negatives = self._negative_examples(candidates, chosen[to_explainer], "explainer_negative")
        rest = chosen[~to_explainer]
        to_select = _interleaved(len(rest), self.config.n_select_negatives * found // total)
        record.negatives = self._negative_examples(candidates, rest[~to_select], "negative")
        record.select_negatives = self._negative_examples(candidates, rest[to_select], "select_negative")

    def _apart(self, cand: Candidates, rows: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """bool [c]: candidates sharing no token with any of the windows (rows, starts)."""
        span = 2 * self.ctx_len  # keys of two rows lie further apart than any two windows of one row
        taken = np.sort(rows * span + starts)
        key = cand.rows * span + cand.starts
        if len(taken) == 0:
            return np.ones(len(key), bool)
        nearest = np.searchsorted(taken, key - self.width + 1)  # first window that could overlap
        found = taken[np.minimum(nearest, len(taken) - 1)]
        return (nearest == len(taken)) | (found > key + self.width - 1)

    def _silent_non_overlapping(self, acts: LatentActivations, cand: Candidates, limit: int,
                                apart: np.ndarray | None = None) -> np.ndarray:
        """Indices of the first `limit` candidates (in preference order) that are silent for the latent
        over the whole window, share no token with its train and test windows (`apart`) and overlap
        no earlier kept candidate."""
        lo, hi = window_spans(acts.token_index, cand.rows, cand.starts, self.ctx_len, self.width)
        silent = np.flatnonzero((hi == lo) & (apart if apart is not None else True))
        if self.source.disjoint:  # candidates never overlap one another
            return silent[:limit]
        key = cand.rows[silent] * (2 * self.ctx_len) + cand.starts[silent]
        by_place = np.argsort(key, kind="stable")
        # preference order is the rank: the strongest-first greedy keeps exactly what a loop would
        kept = greedy_non_overlapping(key[by_place], by_place.astype(np.int64), self.width)
        return np.sort(silent[by_place[kept]])[:limit]

    def _negative_examples(self, cand: Candidates, idx: np.ndarray, role: str) -> list[NonActivatingExample]:
        rows, starts = cand.rows[idx], cand.starts[idx]
        tokens = window_tokens(self.tokens, rows, starts, self.width)
        zeros = np.zeros((len(idx), self.width), np.float32)
        strings = self.decode_tokens(tokens) or [None] * len(idx)
        distance = cand.distance[idx].tolist() if cand.distance is not None else [None] * len(idx)
        name = self.source.name
        columns = zip(rows.tolist(), starts.tolist(), tokens, zeros, strings, distance)
        return [NonActivatingExample(r, s, t, a, role, st, name, d) for r, s, t, a, st, d in columns]

    def decode_tokens(self, tokens: np.ndarray) -> list[tuple[str, ...]] | None:
        """Per-token strings of each window (each id decoded once per run), or None without a tokenizer."""
        if self.tokenizer is None:
            return None
        if len(tokens) == 0:
            return []
        top = int(tokens.max()) + 1
        if top > len(self._vocab):  # object array: id -> decoded string, filled on first sight
            size = max(top, 2 * len(self._vocab))
            self._vocab = np.concatenate([self._vocab, np.full(size - len(self._vocab), None, dtype=object)])
            self._known = np.concatenate([self._known, np.zeros(size - len(self._known), bool)])
        new = tokens[~self._known[tokens]]
        if len(new):
            if self._decoder is None:
                self._decoder = TokenDecoder(self.tokenizer)
            for token in np.unique(new).tolist():
                self._vocab[token] = self._decoder(token)  # as it reads inside a text (SentencePiece spaces)
            self._known[new] = True
        # tuples, not lists: held records would otherwise give every full garbage collection 140 lists
        # each to walk (building 1,000 records and keeping them was 1.5x slower with lists)
        return list(map(tuple, self._vocab[tokens].tolist()))

    def decode_windows(self, tokens: np.ndarray) -> list[str]:
        """The text of each window [n, width]."""
        if hasattr(self.tokenizer, "batch_decode"):
            return list(self.tokenizer.batch_decode(tokens.tolist()))
        return [self.tokenizer.decode(window) for window in tokens.tolist()]


def _interleaved(n: int, k: int) -> np.ndarray:
    """bool [n]: `k` of `n` slots spread evenly (so each share gets equally hard negatives)."""
    slot = np.arange(n)
    return (slot + 1) * k // max(n, 1) > slot * k // max(n, 1)


def _strongest(values: np.ndarray, m: int) -> np.ndarray:
    """Indices of the `m` largest values, strongest first, ties in index order (linear time)."""
    if len(values) > m:
        kth = np.partition(values, len(values) - m)[len(values) - m]  # the m-th largest
        above, equal = np.flatnonzero(values > kth), np.flatnonzero(values == kth)
        top = np.sort(np.concatenate([above, equal[: m - len(above)]]))
    else:
        top = np.arange(len(values))
    return top[strongest_first(values[top])]
