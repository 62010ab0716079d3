"""The TopK sparse autoencoder (and transcoder) that `autointerp fit` trains.

Math (sparsify-compatible, so `load_sparse_coders` reads what we save):
    SAE:        z = TopK(ReLU((x - b_dec) @ W_enc.T + b_enc)),   x_hat = z @ W_dec + b_dec
    transcoder: z = TopK(ReLU(x @ W_enc.T + b_enc)),             y_hat = z @ W_dec + b_dec
Only k of the d_sae pre-activations per token carry gradient, so the encoder's backward pass is a
sparse product (`_SelectedPreacts`) and decoding is an `embedding_bag`: no dense [tokens, d_sae]
gradient is ever built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class SaeOutput:
    """One forward pass: the reconstruction, the kept latents and the losses."""

    output: Tensor  # [N, d_in] reconstruction of the target
    indices: Tensor  # [N, k] latent ids kept per token
    values: Tensor  # [N, k] their activations (>= 0)
    fvu: Tensor  # scalar: fraction of variance unexplained
    aux_loss: Tensor  # scalar: AuxK loss on dead latents (0 when none are dead)
    n_dead: int  # dead latents when this batch was seen


class _SelectedPreacts(torch.autograd.Function):
    """Gather pre-activations `pre[n, idx[n, j]]` with a sparse backward into W_enc and b_enc."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor, pre: Tensor, idx: Tensor) -> Tensor:
        ctx.save_for_backward(x, idx)
        ctx.d_sae = weight.shape[0]
        return pre.gather(1, idx)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, idx = ctx.saved_tensors  # x [N, d_in], idx [N, m]
        n, m = idx.shape
        latents = idx.reshape(-1)
        tokens = torch.arange(n, device=idx.device).repeat_interleave(m)
        flat = grad.reshape(-1).to(x.dtype)
        # grad_W[j] = sum over tokens n that kept latent j of grad[n, j] * x[n]: a sparse [d_sae, N] @ x.
        sparse = torch.sparse_coo_tensor(torch.stack([latents, tokens]), flat, (ctx.d_sae, n),
                                         check_invariants=False)
        grad_weight = torch.sparse.mm(sparse, x)
        grad_bias = torch.zeros(ctx.d_sae, dtype=x.dtype, device=x.device).index_add_(0, latents, flat)
        return None, grad_weight, grad_bias, None, None


def fraction_of_variance_unexplained(target: Tensor, output: Tensor) -> Tensor:
    """sum ||target - output||^2 / sum ||target - mean(target)||^2 over a batch [N, d]."""
    residual = (target - output).pow(2).sum()
    total = (target - target.mean(0, keepdim=True)).pow(2).sum()
    return residual / total.clamp_min(torch.finfo(target.dtype).tiny)


class TopKSae(nn.Module):
    """A TopK sparse coder with a unit-norm decoder, dead-latent bookkeeping and an AuxK loss."""

    def __init__(self, d_in: int, num_latents: int, k: int, transcode: bool = False,
                 aux_k: int | None = None, dead_tokens_threshold: int = 10_000_000) -> None:
        super().__init__()
        if d_in < 1 or num_latents < 1:
            raise ValueError(f"d_in ({d_in}) and num_latents ({num_latents}) must be positive")
        if not 1 <= k <= num_latents:
            raise ValueError(f"k: {k} must lie in [1, num_latents={num_latents}]")
        self.d_in, self.num_latents, self.k, self.transcode = d_in, num_latents, k, transcode
        self.aux_k = aux_k if aux_k is not None else max(1, d_in // 2)
        if not 1 <= self.aux_k <= num_latents:
            raise ValueError(f"aux_k: {self.aux_k} must lie in [1, num_latents={num_latents}]")
        self.dead_tokens_threshold = dead_tokens_threshold
        self.encoder = nn.Linear(d_in, num_latents)  # encoder.weight [d_sae, d_in], encoder.bias [d_sae]
        self.W_dec = nn.Parameter(torch.empty(num_latents, d_in))
        self.b_dec = nn.Parameter(torch.zeros(d_in))
        # Tokens seen since each latent last fired; a buffer so it survives checkpoints.
        self.register_buffer("tokens_since_fired", torch.zeros(num_latents, dtype=torch.long))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Random unit-norm decoder rows; the encoder starts as the decoder's transpose, bias zero."""
        nn.init.kaiming_uniform_(self.W_dec, a=math.sqrt(5))
        self.set_decoder_norm_to_unit_norm()
        self.encoder.weight.copy_(self.W_dec)
        self.encoder.bias.zero_()
        self.b_dec.zero_()

    @torch.no_grad()
    def init_b_dec(self, target: Tensor) -> None:
        """Start the decoder bias at the mean of a first batch of targets [N, d_in]."""
        self.b_dec.copy_(target.float().mean(0).to(self.b_dec.dtype))

    def _encoder_input(self, x: Tensor) -> Tensor:
        """What the encoder multiplies: x - b_dec for an SAE (b_dec detached), x for a transcoder."""
        return x if self.transcode else x - self.b_dec.detach()

    def preacts(self, x: Tensor) -> Tensor:
        """Dense ReLU pre-activations [N, d_sae], without gradient (only used to pick latents)."""
        with torch.no_grad():
            return F.relu(F.linear(self._encoder_input(x), self.encoder.weight, self.encoder.bias))

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The k kept latents per token: (values [N, k], indices [N, k]); values carry gradient."""
        x_in = self._encoder_input(x)
        pre = self.preacts(x)
        indices = pre.topk(self.k, dim=1, sorted=False).indices
        values = _SelectedPreacts.apply(x_in, self.encoder.weight, self.encoder.bias, pre, indices)
        return F.relu(values), indices

    def decode(self, values: Tensor, indices: Tensor, bias: bool = True) -> Tensor:
        """Sum of the kept latents' decoder rows weighted by their values [N, d_in]."""
        out = F.embedding_bag(indices, self.W_dec, per_sample_weights=values.to(self.W_dec.dtype), mode="sum")
        return out + self.b_dec if bias else out

    def dead_mask(self) -> Tensor:
        """Latents that have not fired for more than `dead_tokens_threshold` tokens [d_sae] bool."""
        return self.tokens_since_fired > self.dead_tokens_threshold

    @torch.no_grad()
    def update_dead(self, indices: Tensor, values: Tensor) -> None:
        """Count tokens seen, and reset the counter of every latent that fired (value > 0)."""
        self.tokens_since_fired += indices.shape[0]
        fired = indices[values > 0]
        self.tokens_since_fired[fired] = 0

    def forward(self, x: Tensor, target: Tensor | None = None) -> SaeOutput:
        """Encode x, reconstruct the target (x itself for an SAE), and compute FVU and AuxK loss."""
        target = x if target is None else target
        dead = self.dead_mask()
        values, indices = self.encode(x)
        output = self.decode(values, indices)
        fvu = fraction_of_variance_unexplained(target, output)
        aux = self.aux_loss(x, target, output, dead)
        self.update_dead(indices, values)
        return SaeOutput(output, indices, values, fvu, aux, int(dead.sum()))

    def aux_loss(self, x: Tensor, target: Tensor, output: Tensor, dead: Tensor) -> Tensor:
        """AuxK: the top `aux_k` dead latents reconstruct the residual error, normalised like FVU.

        Scaled by min(n_dead / aux_k, 1) so a handful of dead latents gets a small push.
        """
        n_dead = int(dead.sum())
        if n_dead == 0:
            return output.new_zeros(())
        m = min(self.aux_k, n_dead)
        pre = self.preacts(x).masked_fill(~dead, -1.0)  # live latents can never be picked
        indices = pre.topk(m, dim=1, sorted=False).indices
        values = F.relu(_SelectedPreacts.apply(self._encoder_input(x), self.encoder.weight,
                                               self.encoder.bias, pre, indices))
        error = (target - output).detach()
        error_hat = self.decode(values, indices, bias=False)
        scale = min(n_dead / self.aux_k, 1.0)
        return scale * fraction_of_variance_unexplained(error, error_hat)

    @torch.no_grad()
    def set_decoder_norm_to_unit_norm(self) -> None:
        """Rescale every decoder row to unit L2 norm."""
        self.W_dec.div_(self.W_dec.norm(dim=1, keepdim=True).clamp_min(torch.finfo(self.W_dec.dtype).eps))

    @torch.no_grad()
    def remove_gradient_parallel_to_decoder_rows(self) -> None:
        """Project out of W_dec.grad the part along each row, so a step cannot just grow the norm."""
        if self.W_dec.grad is None:
            return
        parallel = (self.W_dec.grad * self.W_dec).sum(dim=1, keepdim=True)
        self.W_dec.grad.sub_(parallel * self.W_dec)
