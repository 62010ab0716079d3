"""Steering the subject model with a latent: add `alpha x decoder row` at its hookpoint and continue text.

The vector is added to the hookpoint module's OUTPUT at every position (prompt and generated): for
an SAE that output is what it reconstructs (the residual stream at `layers.N`); for a transcoder the
decoder writes its module's output too (an MLP's output), so both steer at the same place.

Generation is greedy and batched; prompts of one call have the same length (token windows of the
run's own text), so no padding enters the batch and a row's text does not depend on its neighbours.
With a zero vector the hook adds exact zeros: alpha = 0 gives the unsteered text bit for bit.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from autointerp.models.hookpoints import resolve_hookpoints

logger = logging.getLogger(__name__)


def pick_device(device: str) -> str:
    """`auto` -> `cuda` when a GPU is visible, else `cpu`; anything else unchanged."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class Steerer:
    """A subject model plus its coders' decoder rows, ready to continue prompts with or without steering.

    Not thread safe (a hook lives on the shared model for the length of a call): callers serialize."""

    def __init__(self, model: Any, decoders: dict[str, torch.Tensor], eos_token_id: int | None = None,
                 tokenizer: Any = None) -> None:
        """model: a transformers causal LM; decoders: {hookpoint: W_dec [d_sae, d_out]} (moved to the model);
        tokenizer: the model's own (decodes continuations when the caller has none)."""
        self.model = model
        self.tokenizer = tokenizer
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.modules = resolve_hookpoints(model, list(decoders))
        self.decoders = {hp: w.detach().to(self.device, torch.float32) for hp, w in decoders.items()}
        self.eos_token_id = eos_token_id

    def direction(self, hookpoint: str, index: int) -> torch.Tensor:
        """The latent's decoder row [d_out] (float32, on the model's device)."""
        if hookpoint not in self.decoders:
            raise ValueError(f"steering: no decoder for hookpoint {hookpoint!r}; have {sorted(self.decoders)}")
        return self.decoders[hookpoint][index]

    @contextlib.contextmanager
    def steering(self, hookpoint: str, delta: torch.Tensor | None) -> Iterator[None]:
        """Within the block, `delta` [B, d] (one vector per batch row) is added to the hookpoint's output."""
        if delta is None:
            yield
            return
        add = delta.to(self.device, self.dtype)[:, None, :]  # [B, 1, d]: every position of each row

        def hook(module, args, output):
            if isinstance(output, (tuple, list)):  # transformers 5.x: some blocks return a tuple
                return (output[0] + add, *output[1:])
            return output + add

        handle = self.modules[hookpoint].register_forward_hook(hook)
        try:
            yield
        finally:
            handle.remove()

    def deltas(self, hookpoint: str, index: int, alphas: Sequence[float]) -> torch.Tensor:
        """[len(alphas), d]: alpha times the latent's decoder row, one row per alpha."""
        row = self.direction(hookpoint, index)
        return torch.tensor(list(alphas), dtype=torch.float32, device=self.device)[:, None] * row[None, :]

    def generate(self, prompts: Sequence[Sequence[int]], new_tokens: int, hookpoint: str | None = None,
                 delta: torch.Tensor | None = None, batch_size: int = 16) -> list[list[int]]:
        """Greedy continuations (token ids, cut after an end-of-sequence) of equal-length prompts.

        delta: None (unsteered) or [len(prompts), d], added at `hookpoint` for the matching prompt."""
        _check_prompts(prompts)
        out: list[list[int]] = []
        for lo in range(0, len(prompts), batch_size):
            ids = torch.tensor([list(p) for p in prompts[lo : lo + batch_size]], dtype=torch.long, device=self.device)
            part = None if delta is None else delta[lo : lo + batch_size]
            with self.steering(hookpoint or "", part), torch.no_grad():
                generated = self.model.generate(
                    input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                    do_sample=False, num_beams=1, pad_token_id=self.eos_token_id if self.eos_token_id is not None else 0)
            out.extend(self._cut(row) for row in generated[:, ids.shape[1]:].tolist())  # [B, new_tokens]
        return out

    def _cut(self, ids: list[int]) -> list[int]:
        """The ids before the first end-of-sequence token."""
        if self.eos_token_id is not None and self.eos_token_id in ids:
            return ids[: ids.index(self.eos_token_id)]
        return ids

    def token_probabilities(self, sequences: Sequence[Sequence[int]], token_ids: Sequence[int],
                            hookpoint: str | None = None, delta: torch.Tensor | None = None) -> torch.Tensor:
        """[B, T]: the summed next-token probability of `token_ids` at every position, one forward pass."""
        _check_prompts(sequences)
        ids = torch.tensor([list(s) for s in sequences], dtype=torch.long, device=self.device)
        with self.steering(hookpoint or "", delta), torch.no_grad():
            logits = self.model(input_ids=ids, use_cache=False).logits.float()  # [B, T, vocab]
        wanted = torch.tensor(list(token_ids), dtype=torch.long, device=self.device)
        return logits.softmax(-1)[..., wanted].sum(-1).cpu()


def _check_prompts(prompts: Sequence[Sequence[int]]) -> None:
    lengths = {len(p) for p in prompts}
    if len(lengths) > 1:
        raise ValueError(f"steering: prompts of one call must have one length, got lengths {sorted(lengths)}")
    if not prompts or 0 in lengths:
        raise ValueError("steering: no prompt tokens")


def load_steerer(model: str, sparse_model: str, hookpoints: list[str], device: str = "auto",
                 dtype: str | None = None) -> Steerer:
    """Load the subject model (whole: generation needs every block and the head) and the coders' decoders."""
    from autointerp.models.sparse_coders import load_sparse_coders, resolve_sparse_model
    from autointerp.models.subject import load_subject

    place = pick_device(device)
    coders = load_sparse_coders(resolve_sparse_model(sparse_model), hookpoints)
    subject, tokenizer = load_subject(model, dtype=dtype, device=place)
    decoders = {hp: c.W_dec.detach().float() for hp, c in coders.items()}  # [d_sae, d_out]
    logger.info("steering: loaded %s on %s with decoders of %s", model, place, sorted(decoders))
    return Steerer(subject, decoders, eos_token_id=getattr(tokenizer, "eos_token_id", None), tokenizer=tokenizer)
