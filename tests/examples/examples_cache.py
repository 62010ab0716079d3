"""Synthetic latent caches for the examples tests, written with the real format writers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autointerp.latents.format import (
    FORMAT_VERSION,
    MANIFEST,
    build_shard_arrays,
    save_arrays,
    shard_name,
    write_json,
    write_tokens,
)


def write_cache(
    folder: str | Path,
    tokens: np.ndarray,
    nonzeros: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    d_sae: dict[str, int],
    n_shards: int = 2,
) -> Path:
    """Write a cache folder: tokens [n_rows, ctx_len], per hookpoint (token_index, latent, value) arrays.

    Rows are split into `n_shards` contiguous ranges, one shard each (written in reverse order, so
    the reader cannot rely on shard order), and the tokens into two rank files.
    """
    folder = Path(folder)
    n_rows, ctx_len = tokens.shape
    bounds = np.linspace(0, n_rows, n_shards + 1).astype(int)
    half = n_rows // 2
    token_files = [write_tokens(folder, 0, np.arange(half), tokens[:half]).name]
    token_files.append(write_tokens(folder, 1, np.arange(half, n_rows), tokens[half:]).name)
    per_hookpoint = {}
    for hookpoint, (token_index, latent, value) in nonzeros.items():
        shards = []
        for k in reversed(range(n_shards)):
            rows = token_index // ctx_len
            mask = (rows >= bounds[k]) & (rows < bounds[k + 1])
            arrays = build_shard_arrays(token_index[mask], latent[mask], value[mask], d_sae[hookpoint])
            rel = f"{hookpoint}/{shard_name(0, k)}"
            save_arrays(folder / rel, arrays)
            shards.append(rel)
        per_hookpoint[hookpoint] = {"d_sae": d_sae[hookpoint], "shards": shards, "nnz": int(len(latent))}
    manifest = {
        "format_version": FORMAT_VERSION,
        "model": "synthetic",
        "sparse_model": "synthetic",
        "hookpoints": list(nonzeros),
        "ctx_len": int(ctx_len),
        "n_rows": int(n_rows),
        "n_tokens": int(n_rows * ctx_len),
        "token_files": token_files,
        "per_hookpoint": per_hookpoint,
        "dtypes": {"token_index": "int32", "activations": "float16"},
    }
    write_json(folder / MANIFEST, manifest)
    return folder


def dense_to_nonzeros(dense: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[n_tokens, d_sae] dense activations -> (token_index, latent, value) of its nonzeros."""
    token_index, latent = np.nonzero(dense)
    return token_index.astype(np.int64), latent.astype(np.int64), dense[token_index, latent].astype(np.float32)


def random_dense(rng: np.random.Generator, n_tokens: int, d_sae: int, rates: np.ndarray) -> np.ndarray:
    """float32 [n_tokens, d_sae]: latent j fires on a fraction rates[j] of tokens, with values in
    float16-exact steps so the cache stores them without rounding."""
    fire = rng.random((n_tokens, d_sae)) < rates[None, :]
    values = rng.integers(1, 2000, size=(n_tokens, d_sae)).astype(np.float32) / 64.0
    return np.where(fire, values, 0.0).astype(np.float32)
