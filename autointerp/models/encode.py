"""Turn hookpoint activations into sparse latent nonzeros, on the coders' device, with few host syncs.

`encode_on_device` runs every coder where its weights live (activations are moved to the coder's
device and dtype: a `device_map` model or a CUDA model with CPU coders works) and compacts each
hookpoint's nonzeros ONCE (BOS positions are dropped inside that compaction). Its output is in
compact dtypes: the token's position in the batch (int32, < B*T), the latent (int32), the value
(float32): 12 bytes per nonzero instead of 20.

`HostCopy` starts the copies to (pinned) host memory without blocking and records an event; the
writer thread calls `numpy()`, which waits for that event and turns batch positions into global
token indices (row * T + position) with numpy, off the GPU's critical path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

Nonzeros = tuple[np.ndarray, np.ndarray, np.ndarray]


def coder_placement(coder: Any) -> tuple[torch.device | None, torch.dtype | None]:
    """(device, dtype) of a coder's first parameter; (None, None) for a coder without parameters."""
    weight = next(iter(coder.parameters()), None) if hasattr(coder, "parameters") else None
    return (weight.device, weight.dtype) if weight is not None else (None, None)


def _encode(coder: Any, x: torch.Tensor, keep: torch.Tensor | None):
    """(token, latent, value) of one coder; `keep` bool [N] passed to our coders, applied after for others."""
    from autointerp.models.sparse_coders.base import SparseCoder

    if isinstance(coder, SparseCoder):
        return coder.encode(x, keep)
    token, latent, value = coder.encode(x)  # a user's coder with the plain encode(x) contract
    if keep is None:
        return token, latent, value
    kept = keep.to(token.device)[token].nonzero().squeeze(1)  # one host sync; gathers need none
    return token[kept], latent[kept.to(latent.device)], value[kept.to(value.device)]


def encode_on_device(acts: Mapping[str, torch.Tensor], coders: Mapping[str, Any], input_ids: torch.Tensor,
                     bos_token_id: int | None = None) -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """{hookpoint: (batch position int32 [nnz] in [0, B*T), latent int32 [nnz], value float32 [nnz])}, on each coder's device.

    acts: {hookpoint: Tensor[B, T, d_in]}; input_ids [B, T]. With `bos_token_id`, positions holding
    that token give no nonzeros."""
    import torch

    batch, ctx_len = input_ids.shape
    out = {}
    for hp, coder in coders.items():
        device, dtype = coder_placement(coder)
        x = acts[hp].reshape(batch * ctx_len, -1)
        x = x.to(device=device or x.device, dtype=dtype or x.dtype, non_blocking=True)
        keep = None
        if bos_token_id is not None:
            keep = input_ids.reshape(-1).to(x.device, non_blocking=True) != bos_token_id
        token, latent, value = _encode(coder, x, keep)
        out[hp] = (token.to(torch.int32), latent.to(torch.int32), value.to(torch.float32))
    return out


class HostCopy:
    """One batch's rows, tokens and nonzeros on their way to host memory (non-blocking from a GPU)."""

    def __init__(self, rows: torch.Tensor, input_ids: torch.Tensor,
                 latents: Mapping[str, tuple[torch.Tensor, ...]]) -> None:
        """Start every copy now; `numpy()` waits for them."""
        import torch

        self.ctx_len = int(input_ids.shape[1])
        self.rows = _to_host(rows.to(torch.int64))
        self.tokens = _to_host(input_ids.to(torch.int32))
        self.latents = {hp: tuple(_to_host(t) for t in nz) for hp, nz in latents.items()}
        self.event = None
        devices = {t.device for nz in latents.values() for t in nz} | {input_ids.device}
        cuda = [d for d in devices if d.type == "cuda"]
        if cuda:  # one event after the copies of the current stream; numpy() waits on it
            self.event = torch.cuda.Event()
            self.event.record(torch.cuda.current_stream(cuda[0]))

    def numpy(self) -> tuple[np.ndarray, np.ndarray, dict[str, Nonzeros]]:
        """(rows int64 [B], tokens int32 [B, T], {hookpoint: (token_index, latent int32, value float32)}).

        token_index = row * T + position, int32 when it fits, else int64."""
        if self.event is not None:
            self.event.synchronize()
        rows, tokens = self.rows.numpy(), self.tokens.numpy()
        wide = len(rows) and (int(rows.max()) + 1) * self.ctx_len >= 2**31
        index_dtype = np.int64 if wide else np.int32
        out = {}
        for hp, (position, latent, value) in self.latents.items():
            position = position.numpy()
            row, column = np.divmod(position, self.ctx_len)
            token_index = rows[row].astype(index_dtype) * self.ctx_len + column.astype(index_dtype)
            out[hp] = (token_index, latent.numpy(), value.numpy())
        return rows, tokens, out


def _to_host(tensor: torch.Tensor) -> torch.Tensor:
    """A CPU tensor; from a GPU a non-blocking copy into pinned memory (PyTorch's caching host allocator)."""
    if tensor.device.type == "cpu":
        return tensor
    return tensor.to("cpu", non_blocking=True)


def encode_batch(acts: Mapping[str, Any], coders: Mapping[str, Any], rows, input_ids, bos_token_id: int | None = None):
    """Encode every hookpoint's activations; return {hookpoint: (token_index int64, latent int64, value float32)} on the CPU.

    acts: {hookpoint: Tensor[B, T, d_in]}; rows: LongTensor[B] global row indices; input_ids: [B, T].
    token_index = row * T + position. With `bos_token_id`, nonzeros at positions holding that token
    are dropped. Activations go to each coder's device and dtype first."""
    import torch

    latents = encode_on_device(acts, coders, input_ids, bos_token_id)
    _, _, host = HostCopy(torch.as_tensor(rows), input_ids, latents).numpy()
    return {hp: (torch.from_numpy(t.astype(np.int64)), torch.from_numpy(lat.astype(np.int64)), torch.from_numpy(v))
            for hp, (t, lat, v) in host.items()}
