"""Sparse coders (SAEs and transcoders) that encode straight to their nonzero latents.

`encode(x)` returns COO triples `(token, latent, value)`; no [N, d_sae] tensor is built beyond the
encoder matmul itself (TopK keeps only k values per token from it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

Coo = tuple[torch.Tensor, torch.Tensor, torch.Tensor]

DENSE_CHUNK_ELEMENTS = 2**28
"""Most pre-activations [tokens, d_sae] a ReLU or JumpReLU coder holds at once (1 GiB in float32):
a 131k-wide coder encodes a 32 x 256 batch in 8 chunks instead of one 4 GiB tensor."""


def _frozen(tensor: torch.Tensor) -> nn.Parameter:
    """A parameter that takes no gradient (coders are loaded for inference)."""
    return nn.Parameter(tensor, requires_grad=False)


class SparseCoder(nn.Module):
    """Base class: an affine encoder, a sparsifying activation, an affine decoder.

    encoder_weight [d_sae, d_in], encoder_bias [d_sae], W_dec [d_sae, d_out], b_dec [d_out].
    `transcoder` True means the hookpoint's module INPUT is encoded (and its output reconstructed).
    """

    def __init__(
        self,
        encoder_weight: torch.Tensor,
        encoder_bias: torch.Tensor,
        W_dec: torch.Tensor,
        b_dec: torch.Tensor,
        *,
        hookpoint: str = "",
        transcoder: bool = False,
        subtract_b_dec: bool = False,
    ) -> None:
        """`subtract_b_dec`: encode `x - b_dec` (sparsify SAEs, SAELens `apply_b_dec_to_input`)."""
        super().__init__()
        d_sae, d_in = encoder_weight.shape
        if encoder_bias.shape != (d_sae,) or W_dec.shape[0] != d_sae or b_dec.shape != W_dec.shape[1:]:
            raise ValueError(
                f"sparse_model: inconsistent shapes: encoder {tuple(encoder_weight.shape)}, bias "
                f"{tuple(encoder_bias.shape)}, W_dec {tuple(W_dec.shape)}, b_dec {tuple(b_dec.shape)}"
            )
        if subtract_b_dec and b_dec.shape[0] != d_in:
            raise ValueError("sparse_model: b_dec cannot be subtracted from the input: widths differ")
        self.encoder_weight = _frozen(encoder_weight)
        self.encoder_bias = _frozen(encoder_bias)
        self.W_dec = _frozen(W_dec)
        self.b_dec = _frozen(b_dec)
        self.d_in, self.d_sae, self.d_out = d_in, d_sae, W_dec.shape[1]
        self.hookpoint = hookpoint
        self.transcoder = transcoder
        self.subtract_b_dec = subtract_b_dec

    def pre_acts(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, d_in] -> encoder pre-activations [N, d_sae]."""
        x = x.to(self.encoder_weight.dtype)
        if self.subtract_b_dec:
            x = x - self.b_dec
        return F.linear(x, self.encoder_weight, self.encoder_bias)

    def encode(self, x: torch.Tensor, token_mask: torch.Tensor | None = None) -> Coo:
        """x [N, d_in] -> (token int64 [nnz], latent int64 [nnz], value float [nnz]), nonzeros only.

        `token_mask` bool [N]: tokens where it is False give no nonzeros (e.g. BOS positions); it is
        applied inside the one compaction, so leaving tokens out costs no extra host sync."""
        raise NotImplementedError

    def _dense_encode(self, x: torch.Tensor, token_mask: torch.Tensor | None, activate) -> Coo:
        """Nonzeros of activate(pre_acts) in token chunks, so [chunk, d_sae] stays under DENSE_CHUNK_ELEMENTS."""
        chunk = max(1, DENSE_CHUNK_ELEMENTS // max(self.d_sae, 1))
        parts = []
        for start in range(0, x.shape[0], chunk):
            acts = activate(self.pre_acts(x[start : start + chunk]))  # [chunk, d_sae]
            if token_mask is not None:
                acts.mul_(token_mask[start : start + chunk, None].to(acts.device))
            token, latent, value = _nonzero_coo(acts)
            parts.append((token + start, latent, value))
        if len(parts) == 1:
            return parts[0]
        return tuple(torch.cat([p[i] for p in parts]) for i in range(3))

    def dense(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, d_in] -> activations [N, d_sae] (for tests and small inputs)."""
        token, latent, value = self.encode(x)
        out = torch.zeros(x.shape[0], self.d_sae, dtype=value.dtype, device=value.device)
        out[token, latent] = value
        return out

    def decode(self, acts: torch.Tensor) -> torch.Tensor:
        """activations [N, d_sae] -> reconstruction [N, d_out]."""
        return acts.to(self.W_dec.dtype) @ self.W_dec + self.b_dec

    def extra_repr(self) -> str:
        """Sizes and kind, shown by `print(coder)`."""
        kind = "transcoder" if self.transcoder else "sae"
        return f"{kind}, hookpoint={self.hookpoint!r}, d_in={self.d_in}, d_sae={self.d_sae}"


def _nonzero_coo(acts: torch.Tensor) -> Coo:
    """Dense activations [N, d_sae] (zeros where inactive) -> COO of the nonzeros."""
    token, latent = acts.nonzero(as_tuple=True)
    return token, latent, acts[token, latent]


class ReluCoder(SparseCoder):
    """ReLU activation (SAELens `standard` / `relu`)."""

    def encode(self, x: torch.Tensor, token_mask: torch.Tensor | None = None) -> Coo:
        """Nonzeros of relu(pre_acts)."""
        return self._dense_encode(x, token_mask, lambda pre: pre.relu_())


class TopKCoder(SparseCoder):
    """TopK activation: per token, the k largest positive pre-activations (sparsify, SAELens topk)."""

    def __init__(self, *args, k: int, **kwargs) -> None:
        """`k`: latents kept per token."""
        super().__init__(*args, **kwargs)
        if not 0 < k <= self.d_sae:
            raise ValueError(f"sparse_model: k={k} must lie in [1, d_sae={self.d_sae}]")
        self.k = k

    def encode(self, x: torch.Tensor, token_mask: torch.Tensor | None = None) -> Coo:
        """Top k of relu(pre_acts) per token; zeros among them dropped."""
        values, latents = self.pre_acts(x).topk(self.k, dim=-1, sorted=False)  # [N, k] each
        keep = values > 0
        if token_mask is not None:
            keep &= token_mask[:, None].to(keep.device)
        # one compaction (the batch's one host sync, for its size), then gathers; three boolean-mask
        # indexings would wait for the device three times. Same row-major order as mask indexing.
        flat = keep.reshape(-1).nonzero().squeeze(1)  # [nnz] positions in the [N, k] grid
        return flat // self.k, latents.reshape(-1)[flat], values.reshape(-1)[flat]

    def extra_repr(self) -> str:
        """Sizes, kind and k."""
        return super().extra_repr() + f", k={self.k}"


class JumpReluCoder(SparseCoder):
    """JumpReLU activation: pre-activations above a per-latent threshold (Gemma Scope, SAELens)."""

    def __init__(self, *args, threshold: torch.Tensor, **kwargs) -> None:
        """`threshold` [d_sae]."""
        super().__init__(*args, **kwargs)
        if threshold.shape != (self.d_sae,):
            raise ValueError(f"sparse_model: threshold shape {tuple(threshold.shape)} != ({self.d_sae},)")
        self.threshold = _frozen(threshold)

    def encode(self, x: torch.Tensor, token_mask: torch.Tensor | None = None) -> Coo:
        """Nonzeros of relu(pre) where pre > threshold."""
        return self._dense_encode(x, token_mask, lambda pre: pre.relu_().mul_(pre > self.threshold))
