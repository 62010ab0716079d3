"""Similar latents for the `neighbours` negatives: sparse co-occurrence, or cosine of coder weights.

Nothing here is ever d_sae x d_sae: co-occurrence keeps a token-major copy of the hookpoint's
nonzeros (4 bytes per nonzero plus 8 per cached token) and counts, per asked latent, only the latents firing on its
tokens; weight similarity computes blocks of rows against all latents on demand and keeps only
each latent's top `k`.
"""

from __future__ import annotations

import logging

import numpy as np

from autointerp.examples.compiled import kernels
from autointerp.latents.format import CacheReader

logger = logging.getLogger(__name__)


class Neighbours:
    """Base: the `k` latents most similar to a given one, with their similarities (descending)."""

    def neighbours(self, index: int, token_index: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(latent indices int64 [<=k], similarities float32 [<=k]) for latent `index`.

        token_index: the latent's nonzero token indices (used by co-occurrence).
        """
        raise NotImplementedError


class CoOccurrenceNeighbours(Neighbours):
    """Jaccard similarity of the token sets on which two latents fire."""

    def __init__(self, reader: CacheReader, hookpoint: str):
        tokens, latents = [], []
        for path in reader.shard_paths(hookpoint):
            offsets = reader.offsets(path)
            tokens.append(reader.shard_array(path, "token_index").astype(np.int64))
            latents.append(np.repeat(np.arange(len(offsets) - 1, dtype=np.int32), np.diff(offsets)))
        token_index = np.concatenate(tokens) if tokens else np.zeros(0, np.int64)
        latent = np.concatenate(latents) if latents else np.zeros(0, np.int32)
        n_tokens = reader.manifest.n_rows * reader.ctx_len
        # token-major (CSR) copy: the latents firing on token t are latent_sorted[ptr[t]:ptr[t + 1]]
        self.latent_sorted = latent[np.argsort(token_index, kind="stable")]  # int32 [nnz]
        self.ptr = np.zeros(n_tokens + 1, np.int64)  # n_tokens <= nnz for any coder that fires
        np.cumsum(np.bincount(token_index, minlength=n_tokens), out=self.ptr[1:])
        self.counts = np.bincount(latent, minlength=reader.d_sae(hookpoint))
        logger.info("co-occurrence index for %s: %d nonzeros", hookpoint, len(latent))

    def neighbours(self, index: int, token_index: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Latents sharing the most tokens with `index`, relative to the union of their tokens."""
        shared = self.shared_counts(token_index)
        shared[index] = 0
        others = np.flatnonzero(shared)
        shared = shared[others]
        jaccard = shared / (len(token_index) + self.counts[others] - shared)
        top = _largest_first(jaccard, k)
        return others[top], jaccard[top].astype(np.float32)

    def shared_counts(self, token_index: np.ndarray) -> np.ndarray:
        """int64 [d_sae]: on how many of these tokens each latent fires."""
        token_index = np.ascontiguousarray(token_index, dtype=np.int64)
        if kernels is not None:
            shared = np.zeros(len(self.counts), np.int64)
            kernels.cooccurrence_counts(self.ptr, self.latent_sorted, token_index, shared)
            return shared
        return self._shared_counts_numpy(token_index)

    def _shared_counts_numpy(self, token_index: np.ndarray) -> np.ndarray:
        lo, hi = self.ptr[token_index], self.ptr[token_index + 1]
        counts = hi - lo
        total = int(counts.sum())
        flat = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(lo, counts)
        return np.bincount(self.latent_sorted[flat], minlength=len(self.counts)).astype(np.int64)


def _largest_first(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the `k` largest values, largest first, ties in index order (what a full
    lexsort would give, at the cost of a partition and a sort of ~k)."""
    if k <= 0:
        return np.zeros(0, np.int64)
    if len(values) > k:
        kth = np.partition(values, len(values) - k)[len(values) - k]
        candidates = np.flatnonzero(values >= kth)
    else:
        candidates = np.arange(len(values))
    return candidates[np.lexsort((candidates, -values[candidates]))][:k]


class WeightNeighbours(Neighbours):
    """Cosine similarity of rows of a coder weight matrix (decoder or encoder directions)."""

    block = 256
    """Latents whose neighbours are computed together (one [block, d_sae] product)."""

    def __init__(self, weights: np.ndarray, d_sae: int, k: int):
        weights = np.asarray(weights, dtype=np.float32)
        if weights.ndim != 2 or d_sae not in weights.shape:
            raise ValueError(f"weights of shape {weights.shape} do not have a dimension of d_sae={d_sae}")
        if weights.shape[0] != d_sae:
            weights = weights.T  # given as [d_model, d_sae]
        norms = np.linalg.norm(weights, axis=1, keepdims=True)
        self.unit = weights / np.maximum(norms, 1e-12)  # float32 [d_sae, d_model]
        self.k = k
        self._found: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def neighbours(self, index: int, token_index: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Latents whose weight rows point most nearly the same way as `index`'s."""
        if index not in self._found:
            self._compute_block(index // self.block * self.block, max(k, self.k))
        ids, sims = self._found[index]
        return ids[:k], sims[:k]

    def _compute_block(self, first: int, k: int) -> None:
        rows = np.arange(first, min(first + self.block, len(self.unit)))
        sims = self.unit[rows] @ self.unit.T  # [block, d_sae]
        sims[np.arange(len(rows)), rows] = -np.inf
        k = min(k, sims.shape[1] - 1)
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k > 0 else np.zeros((len(rows), 0), np.int64)
        for i, latent in enumerate(rows):
            cand = part[i]
            order = np.lexsort((cand, -sims[i, cand]))
            self._found[int(latent)] = (cand[order].astype(np.int64), sims[i, cand[order]].astype(np.float32))
