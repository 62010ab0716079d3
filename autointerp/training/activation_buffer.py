"""Feed the SAE trainer: a shuffling token buffer and an optional on-disk activation cache.

The subject model yields activations one sequence (row) at a time, so consecutive tokens come
from one document. `ShuffleBuffer` collects `capacity` tokens from many rows, shuffles them, and
hands out only half before refilling, so a minibatch mixes tokens from many rows and a row's tokens
are spread over many steps.

`ActivationCache` (the module's `activation_cache_dir`) keeps every row's activations in float16
memory-mapped `.npy` files, keyed by the DataModule's global row index. The first epoch runs the
subject model and fills it; later epochs (and later runs with the same settings) read it instead,
which is what makes several epochs affordable on a CPU. Layout of `<activation_cache_dir>/`:
    meta.json       model, hookpoint, model_dtype, tokens_sha256 (the rows' token ids), n_rows,
                    ctx_len, d_in, paired: must match the run, so other text never reuses it
    inputs.npy      float16 [n_rows, ctx_len, d_in]   encoder inputs
    targets.npy     float16 [n_rows, ctx_len, d_in]   reconstruction targets (transcoder only)
    filled.npy      bool [n_rows]                     rows already written (rewritten atomically)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from autointerp.io import atomic_write_bytes, write_json

logger = logging.getLogger(__name__)

FLOAT16_MAX = float(np.finfo(np.float16).max)


class ShuffleBuffer:
    """Collect (input, target) token rows; emit shuffled minibatches once `capacity` tokens wait."""

    def __init__(self, capacity: int, batch_size: int, seed: int = 0) -> None:
        if batch_size < 1:
            raise ValueError(f"sae_batch_size: {batch_size} must be positive")
        if capacity < 2 * batch_size:
            raise ValueError(f"buffer_size: {capacity} must be at least twice sae_batch_size ({batch_size})")
        self.capacity, self.batch_size = capacity, batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self._inputs: list[Tensor] = []
        self._targets: list[Tensor] = []
        self._count = 0

    def __len__(self) -> int:
        """Tokens waiting in the buffer."""
        return self._count

    def push(self, inputs: Tensor, targets: Tensor | None = None) -> None:
        """Add tokens: inputs [N, d] (and targets [N, d] for a transcoder)."""
        self._inputs.append(inputs)
        if targets is not None:
            self._targets.append(targets)
        self._count += inputs.shape[0]

    def _shuffle(self) -> None:
        """Concatenate everything waiting and permute it (tokens from all rows interleave)."""
        perm = torch.randperm(self._count, generator=self.generator)
        self._inputs = [torch.cat(self._inputs)[perm.to(self._inputs[0].device)]]
        if self._targets:
            self._targets = [torch.cat(self._targets)[perm.to(self._targets[0].device)]]

    def _take(self, n: int) -> tuple[Tensor, Tensor | None]:
        """Remove and return the first n shuffled tokens."""
        inputs = self._inputs[0][:n]
        self._inputs = [self._inputs[0][n:]]
        targets = None
        if self._targets:
            targets = self._targets[0][:n]
            self._targets = [self._targets[0][n:]]
        self._count -= n
        return inputs, targets

    def ready(self) -> Iterator[tuple[Tensor, Tensor | None]]:
        """Minibatches available now: while the buffer is full, shuffle and emit half of it."""
        while self._count >= self.capacity:
            self._shuffle()
            n_batches = max(1, (self.capacity // 2) // self.batch_size)
            for _ in range(n_batches):
                yield self._take(self.batch_size)

    def drain(self) -> Iterator[tuple[Tensor, Tensor | None]]:
        """Everything left, shuffled, in minibatches (the last may be short), e.g. at epoch end."""
        if self._count == 0:
            return
        self._shuffle()
        while self._count > 0:
            yield self._take(min(self.batch_size, self._count))


def tokens_fingerprint(dataset) -> str:
    """sha256 of every row's token ids, in row order: ties cached activations to their text."""
    import hashlib

    digest = hashlib.sha256()
    for index in range(len(dataset)):
        digest.update(torch.as_tensor(dataset[index]["input_ids"], dtype=torch.int64).numpy().tobytes())
    return digest.hexdigest()


class ActivationCache:
    """Float16 memory-mapped activations per dataset row, filled on first sight, reused after."""

    def __init__(self, cache_dir: str | Path, meta: dict, n_rows: int, ctx_len: int, d_in: int,
                 paired: bool) -> None:
        self.dir = Path(cache_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.meta = {**meta, "n_rows": n_rows, "ctx_len": ctx_len, "d_in": d_in, "paired": paired}
        meta_path = self.dir / "meta.json"
        if meta_path.exists():
            found = json.loads(meta_path.read_text())
            if found != self.meta:
                raise ValueError(
                    f"activation_cache_dir: {self.dir} holds activations of another run "
                    f"({found}); expected {self.meta}. Use an empty folder."
                )
        shape = (n_rows, ctx_len, d_in)
        self.inputs = self._open("inputs.npy", shape)
        self.targets = self._open("targets.npy", shape) if paired else None
        filled_path = self.dir / "filled.npy"
        self.filled = np.load(filled_path) if filled_path.exists() else np.zeros(n_rows, dtype=bool)
        write_json(meta_path, self.meta)
        logger.info("activation cache %s: %d of %d rows filled", self.dir, self.filled.sum(), n_rows)

    def _open(self, name: str, shape: tuple[int, int, int]) -> np.memmap:
        """Open (or create) one float16 memory-mapped array."""
        path = self.dir / name
        mode = "r+" if path.exists() else "w+"
        return np.lib.format.open_memmap(path, mode=mode, dtype=np.float16, shape=shape)

    def missing(self, rows: Tensor) -> Tensor:
        """Which of these rows are not cached yet: bool [B]."""
        return torch.from_numpy(~self.filled[rows.cpu().numpy()])

    def read(self, rows: Tensor) -> tuple[Tensor, Tensor | None]:
        """Cached activations of rows: inputs [B, T, d] (and targets), as float32."""
        idx = np.sort(rows.cpu().numpy())  # sorted reads are sequential on disk; order is irrelevant
        inputs = torch.from_numpy(np.asarray(self.inputs[idx], dtype=np.float32))
        targets = None
        if self.targets is not None:
            targets = torch.from_numpy(np.asarray(self.targets[idx], dtype=np.float32))
        return inputs, targets

    def write(self, rows: Tensor, inputs: Tensor, targets: Tensor | None = None) -> None:
        """Store rows' activations [B, T, d]; values beyond float16's range are an error."""
        idx = rows.cpu().numpy()
        for name, array, values in (("inputs", self.inputs, inputs), ("targets", self.targets, targets)):
            if array is None:
                continue
            values = values.detach().float().cpu()
            if values.abs().max() > FLOAT16_MAX:
                raise ValueError(f"activation_cache_dir: {name} exceed float16's range; train without the cache")
            array[idx] = values.numpy().astype(np.float16)
        self.filled[idx] = True

    def flush(self) -> None:
        """Make written rows durable: flush the arrays, then record which rows are filled."""
        self.inputs.flush()
        if self.targets is not None:
            self.targets.flush()
        def save(tmp: str) -> None:
            with open(tmp, "wb") as handle:
                np.save(handle, self.filled)

        atomic_write_bytes(self.dir / "filled.npy", save)
