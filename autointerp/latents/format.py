"""The on-disk latent cache: shard layout, atomic writers and a slicing reader.

    <run>/latents/manifest.json                     what produced the cache (written last)
    <run>/latents/tokens-rank<R>.safetensors        rows int64 [n], tokens int32 [n, ctx_len]
    <run>/latents/<hookpoint>/shard-r<R>-<K>.safetensors
        latent_offsets int64 [d_sae + 1]   latent j's nonzeros are [offsets[j], offsets[j+1])
        token_index    int32 [nnz]          row * ctx_len + position, ascending within a latent
                                            (int64 when row * ctx_len overflows int32)
        activations    float16 [nnz]        (float32 when a value overflows float16, or asked)

Reading one latent is one slice per shard; nothing scans all nonzeros.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autointerp.io import atomic_write_bytes, write_json  # noqa: F401  (re-exported: shard writers use both)
from autointerp.latents.manifest import FORMAT_VERSION, MANIFEST, Manifest  # noqa: F401  (re-exported)
FLOAT16_MAX = float(np.finfo(np.float16).max)


def shard_name(rank: int, index: int) -> str:
    """File name of a rank's index-th shard."""
    return f"shard-r{rank}-{index}.safetensors"


def tokens_name(rank: int) -> str:
    """File name of a rank's token file."""
    return f"tokens-rank{rank}.safetensors"


def hookpoint_dir(latents_dir: str | Path, hookpoint: str) -> Path:
    """Folder holding one hookpoint's shards (hookpoint names are already path-safe: `layers.5.mlp`)."""
    return Path(latents_dir) / hookpoint


def build_shard_arrays(
    token_index: np.ndarray,
    latents: np.ndarray,
    values: np.ndarray,
    d_sae: int,
    activation_dtype: str = "float16",
) -> dict[str, np.ndarray]:
    """Sort nonzeros by (latent, token_index) and build the shard's arrays.

    token_index, latents, values: [nnz] each, in any order.
    """
    token_index = np.asarray(token_index, dtype=np.int64)
    latents = np.asarray(latents, dtype=np.int64)
    values = np.asarray(values, dtype=np.float32)
    if not (len(token_index) == len(latents) == len(values)):
        raise ValueError("token_index, latents and values must have one entry per nonzero")
    if len(latents) and (latents.min() < 0 or latents.max() >= d_sae):
        raise ValueError(f"latent indices must lie in [0, {d_sae})")
    order = np.lexsort((token_index, latents))
    counts = np.bincount(latents, minlength=d_sae)
    offsets = np.zeros(d_sae + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    index_dtype = np.int32 if (len(token_index) == 0 or token_index.max() < 2**31) else np.int64
    value_dtype = np.float16
    if activation_dtype == "float32" or (len(values) and np.abs(values).max() > FLOAT16_MAX):
        value_dtype = np.float32
    return {
        "latent_offsets": offsets,
        "token_index": token_index[order].astype(index_dtype),
        "activations": values[order].astype(value_dtype),
    }


def save_arrays(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Atomically save numpy arrays as a safetensors file."""
    from safetensors.numpy import save_file

    atomic_write_bytes(path, lambda tmp: save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, tmp))


def write_tokens(latents_dir: str | Path, rank: int, rows: np.ndarray, tokens: np.ndarray) -> Path:
    """Write one rank's rows and their tokens."""
    path = Path(latents_dir) / tokens_name(rank)
    save_arrays(path, {"rows": np.asarray(rows, dtype=np.int64), "tokens": np.asarray(tokens, dtype=np.int32)})
    return path


_SAFETENSORS_DTYPES = {"I64": np.int64, "I32": np.int32, "F16": np.float16, "F32": np.float32, "BOOL": np.bool_, "I8": np.int8, "U8": np.uint8, "I16": np.int16, "F64": np.float64}


def map_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """Memory-map every array of a safetensors file (read-only plain ndarrays, nothing copied)."""
    import mmap

    with open(path, "rb") as f:
        header_len = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(header_len))
        size = f.seek(0, os.SEEK_END)
        buffer = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
    arrays = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = np.dtype(_SAFETENSORS_DTYPES[info["dtype"]])
        begin, end = info["data_offsets"]
        count = (end - begin) // dtype.itemsize
        flat = np.frombuffer(buffer, dtype=dtype, count=count, offset=8 + header_len + begin)
        arrays[name] = flat.reshape(tuple(info["shape"]))
    return arrays


@dataclass
class LatentActivations:
    """One latent's nonzeros across the cache, ascending by token index."""

    token_index: np.ndarray
    """int64 [m] row * ctx_len + position."""
    activations: np.ndarray
    """float32 [m]."""


class CacheReader:
    """Reads a latent cache folder by slicing shards; keeps files memory-mapped and offsets loaded."""

    def __init__(self, latents_dir: str | Path):
        self.dir = Path(latents_dir)
        self.manifest: Manifest = Manifest.read(self.dir)
        self.ctx_len: int = self.manifest.ctx_len
        self._handles: dict[Path, Any] = {}
        self._offsets: dict[Path, np.ndarray] = {}
        self._tokens: np.ndarray | None = None
        self._paths: dict[str, list[Path]] = {}

    @property
    def hookpoints(self) -> list[str]:
        """Hookpoints in the cache, in manifest order."""
        return list(self.manifest.hookpoints)

    def d_sae(self, hookpoint: str) -> int:
        """Number of latents at a hookpoint."""
        return self.manifest.per_hookpoint[hookpoint].d_sae

    def shard_paths(self, hookpoint: str) -> list[Path]:
        """The hookpoint's shard files, as the manifest lists them."""
        return [self.dir / p for p in self.manifest.per_hookpoint[hookpoint].shards]

    @property
    def tokens(self) -> np.ndarray:
        """int32 [n_rows, ctx_len], indexed by global row (loaded once)."""
        if self._tokens is None:
            from safetensors.numpy import load_file

            tokens = np.zeros((self.manifest.n_rows, self.ctx_len), dtype=np.int32)
            for name in self.manifest.token_files:
                part = load_file(str(self.dir / name))
                tokens[part["rows"]] = part["tokens"]
            self._tokens = tokens
        return self._tokens

    def _arrays(self, path: Path) -> dict[str, np.ndarray]:
        """The shard's arrays, memory-mapped (opened once; slicing them reads only that slice)."""
        if path not in self._handles:
            self._handles[path] = map_safetensors(path)
            self._offsets[path] = np.asarray(self._handles[path]["latent_offsets"], dtype=np.int64)
        return self._handles[path]

    def offsets(self, path: Path) -> np.ndarray:
        """latent_offsets of one shard."""
        self._arrays(path)
        return self._offsets[path]

    def shard_array(self, path: Path, name: str) -> np.ndarray:
        """One array of one shard (`latent_offsets`, `token_index` or `activations`), memory-mapped."""
        return self._arrays(path)[name]

    def latent(self, hookpoint: str, index: int) -> LatentActivations:
        """All nonzeros of one latent: one slice per shard."""
        if hookpoint not in self._paths:
            self._paths[hookpoint] = self.shard_paths(hookpoint)
        indices, values = [], []
        for path in self._paths[hookpoint]:
            arrays = self._arrays(path)
            lo, hi = self._offsets[path][index : index + 2]
            if hi > lo:
                indices.append(arrays["token_index"][lo:hi])
                values.append(arrays["activations"][lo:hi])
        if not indices:
            return LatentActivations(np.zeros(0, np.int64), np.zeros(0, np.float32))
        if len(indices) > 1:  # shards hold disjoint rows but may arrive in any order: put them in order
            first = np.argsort([int(part[0]) for part in indices])
            indices, values = [indices[i] for i in first], [values[i] for i in first]
        token_index = np.concatenate(indices).astype(np.int64)
        activations = np.concatenate(values).astype(np.float32)
        if len(indices) > 1 and np.any(token_index[1:] < token_index[:-1]):  # shards interleave rows
            order = np.argsort(token_index, kind="stable")
            token_index, activations = token_index[order], activations[order]
        return LatentActivations(token_index, activations)
