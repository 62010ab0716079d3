"""Encoding a batch of hookpoint activations with their sparse coders, keeping only the nonzeros."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def encode_batch(acts: Mapping[str, Any], coders: Mapping[str, Any], rows, input_ids, bos_token_id: int | None = None):
    """Encode every hookpoint's activations; return {hookpoint: (token_index, latent, value)} on the CPU.

    acts: {hookpoint: Tensor[B, T, d_in]}; rows: LongTensor[B] global row indices; input_ids: [B, T].
    token_index = row * T + position (int64); latent int64; value float32. With `bos_token_id`,
    nonzeros at positions holding that token are dropped. Only the coder's encoder matmul is dense.
    """
    import torch

    batch, ctx_len = input_ids.shape
    rows = rows.to(input_ids.device, torch.int64)
    keep_token = (input_ids.reshape(-1) != bos_token_id) if bos_token_id is not None else None
    out = {}
    for hp, coder in coders.items():
        x = acts[hp].reshape(batch * ctx_len, -1)
        weight = next(iter(coder.parameters()), None) if hasattr(coder, "parameters") else None
        if weight is not None:
            x = x.to(weight.dtype)
        token, latent, value = coder.encode(x)  # token in [0, B*T)
        token = token.to(rows.device, torch.int64)
        if keep_token is not None:
            mask = keep_token[token]
            token, latent, value = token[mask], latent[mask.to(latent.device)], value[mask.to(value.device)]
        token_index = rows[token // ctx_len] * ctx_len + token % ctx_len
        out[hp] = (token_index.cpu(), latent.to(torch.int64).cpu(), value.float().cpu())
    return out
