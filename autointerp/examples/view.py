"""`CacheView`: the read-only part of the cache a non-activating source may use (never the builder itself)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autointerp.examples.windows import Windows
from autointerp.latents.format import CacheReader


@dataclass(frozen=True)
class CacheView:
    """The cache's shape and tokens, a latent's strongest windows, the coder weights and window text."""

    reader: CacheReader
    ctx_len: int
    """Tokens per cached row."""
    width: int
    """Tokens per example window (`example_ctx_len`)."""
    n_rows: int
    seed: int
    """The examples' seed (samples drawn once per run, such as the FAISS index's windows)."""
    cache_dir: Path
    """Where per-run caches of the sources live (the FAISS embeddings)."""
    top_windows: Callable[[str, int, int], Windows]
    """(hookpoint, latent, n) -> that latent's n strongest windows."""
    weights_for: Callable[[str, str], np.ndarray]
    """(neighbours_type, hookpoint) -> the weight rows a weight-similarity neighbours source compares."""
    decode_windows: Callable[[np.ndarray], list[str]]
    """int [n, width] window tokens -> their text."""

    @property
    def tokens(self) -> np.ndarray:
        """int32 [n_rows, ctx_len] the cache's tokens."""
        return self.reader.tokens
