"""Streams one rank's latent nonzeros and tokens to the cache folder, and builds the manifest.

`ShardSink` is the engine behind both the Lightning writer callback (`callbacks.shard_writer`) and
the programmatic `LatentCache`: it buffers nonzeros, writes a latent-sorted shard per hookpoint
every `flush_tokens` tokens, spills tokens to disk as it goes, and on `close()` finishes the rank's
token file. Peak memory is one flush worth of nonzeros, whatever the number of tokens.
"""

from __future__ import annotations

import json
import logging
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np

from autointerp.latents.format import (
    FLOAT16_MAX,
    MANIFEST,
    atomic_write_bytes,
    build_shard_arrays,
    save_arrays,
    shard_name,
    tokens_name,
)
from autointerp.latents.manifest import HookpointFiles, Manifest

logger = logging.getLogger(__name__)

Nonzeros = tuple[np.ndarray, np.ndarray, np.ndarray]
"""(token_index int64 [nnz] = row * ctx_len + position, latent int64 [nnz], value float32 [nnz])."""

_COPY_CHUNK = 1 << 24  # bytes copied at a time when assembling the token file


def clear_cache_dir(latents_dir: str | Path) -> None:
    """Remove a previous cache in `latents_dir`: the manifest first, so a half-cleared folder never reads as complete."""
    latents_dir = Path(latents_dir)
    (latents_dir / MANIFEST).unlink(missing_ok=True)
    if latents_dir.is_dir():
        shutil.rmtree(latents_dir)
    latents_dir.mkdir(parents=True, exist_ok=True)


class ShardSink:
    """Buffers one rank's nonzeros and flushes a shard per hookpoint every `flush_tokens` tokens."""

    def __init__(
        self,
        latents_dir: str | Path,
        d_sae: dict[str, int],
        *,
        rank: int = 0,
        flush_tokens: int = 2**17,
        activation_dtype: str = "float16",
    ):
        if flush_tokens < 1:
            raise ValueError(f"flush_tokens must be positive, got {flush_tokens}")
        if activation_dtype not in ("float16", "float32"):
            raise ValueError(f"activation_dtype must be 'float16' or 'float32', got {activation_dtype!r}")
        self.dir = Path(latents_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.d_sae = dict(d_sae)
        self.rank = rank
        self.flush_tokens = flush_tokens
        self.activation_dtype = activation_dtype
        self.ctx_len: int | None = None
        self._seen = np.zeros(0, dtype=bool)  # indexed by global row: one byte per row, not a Python set
        self._rows: list[np.ndarray] = []
        self._buffer: dict[str, list[Nonzeros]] = {hp: [] for hp in self.d_sae}
        self._buffered_tokens = 0
        self._shards: dict[str, list[str]] = {hp: [] for hp in self.d_sae}
        self._nnz: dict[str, int] = {hp: 0 for hp in self.d_sae}
        self._dtypes: dict[str, str] = {}
        self._spill_path = self.dir / f".{tokens_name(rank)}.part"
        self._spill = open(self._spill_path, "wb")  # int32 [rows, ctx_len], appended per batch

    @property
    def rows(self) -> np.ndarray:
        """Global rows this rank has kept so far, in arrival order (int64)."""
        return np.concatenate(self._rows) if self._rows else np.zeros(0, np.int64)

    def add(self, rows: np.ndarray, tokens: np.ndarray, latents: dict[str, Nonzeros]) -> None:
        """Take one batch: rows int64 [B], tokens [B, T], nonzeros per hookpoint; rows seen before are dropped."""
        rows = np.asarray(rows, dtype=np.int64)
        tokens = np.asarray(tokens, dtype=np.int32)
        self._check_batch(rows, tokens, latents)
        keep = self._new_rows(rows)
        if not keep.all():
            logger.debug("dropping %d duplicated rows", int((~keep).sum()))
            latents = {hp: _keep_rows(nz, rows[keep], self.ctx_len) for hp, nz in latents.items()}
            rows, tokens = rows[keep], tokens[keep]
        self._seen[rows] = True
        self._rows.append(rows)
        self._spill.write(np.ascontiguousarray(tokens).tobytes())
        for hp, nz in latents.items():
            self._buffer[hp].append(_compact(nz))
        self._buffered_tokens += tokens.size
        if self._buffered_tokens >= self.flush_tokens:
            self.flush()

    def _check_batch(self, rows: np.ndarray, tokens: np.ndarray, latents: dict[str, Nonzeros]) -> None:
        if tokens.ndim != 2 or len(rows) != len(tokens):
            raise ValueError(f"tokens must be [B, T] with one row index per sequence; got {tokens.shape} and {rows.shape}")
        if self.ctx_len is None:
            self.ctx_len = int(tokens.shape[1])
        elif tokens.shape[1] != self.ctx_len:
            raise ValueError(f"every batch must have ctx_len {self.ctx_len}, got {tokens.shape[1]}")
        if set(latents) != set(self.d_sae):
            raise ValueError(f"batch has hookpoints {sorted(latents)}, expected {sorted(self.d_sae)}")

    def _new_rows(self, rows: np.ndarray) -> np.ndarray:
        """Mask of rows neither seen before nor repeated earlier in this batch (grows the seen-mask as needed)."""
        if len(rows) == 0:
            return np.zeros(0, dtype=bool)
        if rows.min() < 0:
            raise ValueError(f"row indices must be >= 0, got {int(rows.min())}")
        if rows.max() >= len(self._seen):
            grown = np.zeros(max(int(rows.max()) + 1, 2 * len(self._seen)), dtype=bool)
            grown[: len(self._seen)] = self._seen
            self._seen = grown
        _, first = np.unique(rows, return_index=True)
        keep = np.zeros(len(rows), dtype=bool)
        keep[first] = True
        return keep & ~self._seen[rows]

    def flush(self) -> None:
        """Write the buffered nonzeros as one shard per hookpoint (all hookpoints share the shard index)."""
        if self._buffered_tokens == 0:
            return
        index = len(next(iter(self._shards.values()))) if self._shards else 0
        for hp, parts in self._buffer.items():
            arrays = shard_from_parts(parts, self.d_sae[hp], self.activation_dtype)
            relative = f"{hp}/{shard_name(self.rank, index)}"
            save_arrays(self.dir / relative, arrays)
            self._note_shard(hp, relative, arrays)
            self._buffer[hp] = []
        self._buffered_tokens = 0

    def _note_shard(self, hp: str, relative: str, arrays: dict[str, np.ndarray]) -> None:
        self._shards[hp].append(relative)
        self._nnz[hp] += len(arrays["token_index"])
        for key in ("token_index", "activations"):
            self._dtypes[key] = _wider(self._dtypes.get(key), str(arrays[key].dtype))

    def close(self, drop_rows: np.ndarray | None = None) -> dict[str, Any]:
        """Flush, remove `drop_rows` (rows another rank also holds), finish the token file; return what was written."""
        self.flush()
        self._spill.close()
        drop = np.asarray(drop_rows if drop_rows is not None else [], dtype=np.int64)
        if len(drop):
            self._drop_from_shards(drop)
        rows = self.rows
        keep = ~np.isin(rows, drop)
        ctx_len = self.ctx_len or 0
        token_file = tokens_name(self.rank) if keep.any() else None  # a rank without rows writes no token file
        if token_file is not None:
            _write_token_file(self.dir / token_file, self._spill_path, rows, keep, ctx_len)
        self._spill_path.unlink(missing_ok=True)
        return {
            "rank": self.rank,
            "ctx_len": ctx_len,
            "rows": rows[keep],
            "token_file": token_file,
            "shards": {hp: list(s) for hp, s in self._shards.items()},
            "nnz": dict(self._nnz),
            "dtypes": dict(self._dtypes),
        }

    def _drop_from_shards(self, drop: np.ndarray) -> None:
        """Rewrite this rank's shards without the nonzeros of `drop` rows (rare: only duplicated rows)."""
        logger.info("rank %d drops %d rows another rank also processed", self.rank, len(drop))
        from safetensors.numpy import load_file

        for hp, shards in self._shards.items():
            self._nnz[hp] = 0
            for relative in shards:
                arrays = load_file(str(self.dir / relative))
                offsets = arrays["latent_offsets"]
                latents = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
                keep = ~np.isin(arrays["token_index"] // self.ctx_len, drop)
                new = build_shard_arrays(
                    arrays["token_index"][keep], latents[keep], arrays["activations"][keep].astype(np.float32),
                    d_sae=self.d_sae[hp], activation_dtype=self.activation_dtype,
                )
                save_arrays(self.dir / relative, new)
                self._nnz[hp] += len(new["token_index"])


def _keep_rows(nz: Nonzeros, kept_rows: np.ndarray, ctx_len: int) -> Nonzeros:
    """The nonzeros whose row is in `kept_rows`."""
    token_index, latent, value = (np.asarray(a) for a in nz)
    mask = np.isin(token_index // ctx_len, kept_rows)
    return token_index[mask], latent[mask], value[mask]


def _compact(nz: Nonzeros) -> Nonzeros:
    """Buffer form of one batch's nonzeros: 12 bytes each (int32 token index unless it needs int64, int32 latent, float32 value)."""
    token_index, latent, value = (np.asarray(a) for a in nz)
    if len(token_index) and token_index.max() < 2**31:
        token_index = token_index.astype(np.int32, copy=False)
    return token_index, latent.astype(np.int32, copy=False), value.astype(np.float32, copy=False)


def _ascending(parts: list[Nonzeros]) -> bool:
    """True when the token indices, read in arrival order, never decrease (rows arrive in order)."""
    last = -1
    for token_index, _, _ in parts:
        if len(token_index):
            if token_index[0] < last or np.any(np.diff(token_index) < 0):
                return False
            last = token_index[-1]
    return True


def shard_from_parts(parts: list[Nonzeros], d_sae: int, activation_dtype: str = "float16") -> dict[str, np.ndarray]:
    """The same arrays as `build_shard_arrays(concatenated parts)`, placed part by part into the final dtypes.

    When rows arrive in order, a stable placement by latent keeps token indices ascending within each
    latent, so no concatenated copy and no global sort are needed: peak memory is the buffer plus
    6 bytes per nonzero. Otherwise it falls back to `build_shard_arrays`.
    """
    for _, latent, _ in parts:
        if len(latent) and (latent.min() < 0 or latent.max() >= d_sae):
            raise ValueError(f"latent indices must lie in [0, {d_sae})")
    if not _ascending(parts):
        return build_shard_arrays(*_concat(parts), d_sae=d_sae, activation_dtype=activation_dtype)
    counts = np.zeros(d_sae, dtype=np.int64)
    for _, latent, _ in parts:
        counts += np.bincount(latent, minlength=d_sae)
    offsets = np.zeros(d_sae + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    wide = any(p[0].dtype == np.int64 for p in parts)
    overflow = any(len(p[2]) and np.abs(p[2]).max() > FLOAT16_MAX for p in parts)
    token_index = np.empty(offsets[-1], dtype=np.int64 if wide else np.int32)
    activations = np.empty(offsets[-1], dtype=np.float32 if activation_dtype == "float32" or overflow else np.float16)
    cursor = offsets[:-1].copy()  # next free slot of each latent
    for part_index, latent, value in parts:
        order = np.argsort(latent, kind="stable")
        part_counts = np.bincount(latent, minlength=d_sae)
        part_start = np.concatenate([[0], np.cumsum(part_counts)[:-1]])
        sorted_latent = latent[order]
        dest = cursor[sorted_latent] + (np.arange(len(order)) - part_start[sorted_latent])
        token_index[dest] = part_index[order]
        activations[dest] = value[order]
        cursor += part_counts
    return {"latent_offsets": offsets, "token_index": token_index, "activations": activations}


def _concat(parts: list[Nonzeros]) -> Nonzeros:
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))


def _wider(old: str | None, new: str) -> str:
    """The wider of two dtype names (int32 < int64, float16 < float32)."""
    if old is None:
        return new
    return max(old, new, key=lambda name: np.dtype(name).itemsize)


def _write_token_file(path: Path, spill: Path, rows: np.ndarray, keep: np.ndarray, ctx_len: int) -> None:
    """Assemble `rows` and the spilled int32 tokens into a safetensors file without loading all tokens at once."""
    n = int(keep.sum())
    header = {
        "rows": {"dtype": "I64", "shape": [n], "data_offsets": [0, 8 * n]},
        "tokens": {"dtype": "I32", "shape": [n, ctx_len], "data_offsets": [8 * n, 8 * n + 4 * n * ctx_len]},
    }
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # safetensors wants the data 8-byte aligned
    row_bytes = 4 * ctx_len
    rows_per_chunk = max(1, _COPY_CHUNK // max(row_bytes, 1))

    def write(tmp: str) -> None:
        with open(tmp, "wb") as out, open(spill, "rb") as src:
            out.write(struct.pack("<Q", len(raw)) + raw)
            out.write(np.ascontiguousarray(rows[keep], dtype="<i8").tobytes())
            for start in range(0, len(rows), rows_per_chunk):
                chunk = np.frombuffer(src.read(row_bytes * rows_per_chunk), dtype=np.int32)
                mask = keep[start : start + rows_per_chunk]
                out.write(chunk.reshape(len(mask), ctx_len)[mask].tobytes())

    atomic_write_bytes(path, write)


def rows_to_drop(rows_per_rank: list[np.ndarray], rank: int) -> np.ndarray:
    """Rows of `rank` that a lower rank also holds: the lower rank keeps them, so none is counted twice."""
    mine = np.asarray(rows_per_rank[rank], dtype=np.int64)
    if rank == 0 or len(mine) == 0:
        return np.zeros(0, np.int64)
    lower = np.concatenate([np.asarray(r, dtype=np.int64) for r in rows_per_rank[:rank]])
    return np.intersect1d(mine, lower)


def build_manifest(parts: list[dict[str, Any]], meta: dict[str, Any]) -> Manifest:
    """Combine every rank's `ShardSink.close()` result with run metadata into the manifest."""
    parts = sorted(parts, key=lambda p: p["rank"])
    hookpoints = list(meta["hookpoints"])
    ctx_len = max(p["ctx_len"] for p in parts)
    all_rows = np.concatenate([np.asarray(p["rows"], np.int64) for p in parts]) if parts else np.zeros(0, np.int64)
    n_rows = int(all_rows.max()) + 1 if len(all_rows) else 0
    if len(all_rows) != n_rows:
        logger.warning("the cache holds %d rows but row indices reach %d: some rows are missing", len(all_rows), n_rows)
    dtypes = {"rows": "int64", "tokens": "int32", "token_index": "int32", "activations": meta.get("activation_dtype", "float16")}
    for p in parts:
        for key, name in p["dtypes"].items():
            dtypes[key] = _wider(dtypes.get(key), name)
    return Manifest(
        model=meta.get("model"),
        sparse_model=meta.get("sparse_model"),
        hookpoints=hookpoints,
        ctx_len=ctx_len,
        n_rows=n_rows,
        n_tokens=int(len(all_rows)) * ctx_len,
        token_files=[p["token_file"] for p in parts if p["token_file"] is not None],
        per_hookpoint={
            hp: HookpointFiles(
                d_sae=int(meta["d_sae"][hp]),
                shards=[s for p in parts for s in p["shards"][hp]],
                nnz=int(sum(p["nnz"][hp] for p in parts)),
            )
            for hp in hookpoints
        },
        dtypes=dtypes,
        filter_bos=bool(meta.get("filter_bos", False)),
        dataset=meta.get("dataset"),
    )


def check_files_visible(latents_dir: str | Path, parts: list[dict[str, Any]]) -> None:
    """Raise when a file another rank wrote is not visible here (nodes writing to local, unshared disks)."""
    latents_dir = Path(latents_dir)
    missing = []
    for part in parts:
        names = [part["token_file"]] if part["token_file"] is not None else []
        names += [s for shards in part["shards"].values() for s in shards]
        missing += [f"rank {part['rank']}: {n}" for n in names if not (latents_dir / n).is_file()]
    if missing:
        raise RuntimeError(
            f"output_dir: {len(missing)} files written by other ranks are not visible to rank 0 in {latents_dir} "
            f"(e.g. {missing[:3]}); on several nodes the run folder must be on a filesystem every node shares"
        )


def write_manifest(latents_dir: str | Path, manifest: Manifest) -> Path:
    """Atomically write the manifest; call it last, once every rank's files are on disk."""
    return manifest.write(latents_dir)


__all__ = ["ShardSink", "build_manifest", "check_files_visible", "clear_cache_dir", "rows_to_drop", "write_manifest"]
