"""`LatentCacheModule`: Lightning's predict loop runs the subject model plus its sparse coders.

`predict_step` runs ONE forward pass, stopped after the deepest hookpoint, encodes every
hookpoint's activations with its coder and returns only the nonzeros, on the CPU:

    {"row": LongTensor[B], "input_ids": LongTensor[B, T], "n_tokens": int,
     "latents": {hookpoint: (token_index int64 [nnz] = row * T + position, latent int64 [nnz], value float32 [nnz])}}

The writer callback (`callbacks.shard_writer.LatentShardWriter`) streams these to disk.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningModule
from torch import nn

from autointerp.models.encoding import encode_batch
from autointerp.models.sparse_coders.loading import resolve_sparse_model  # noqa: F401  (re-exported)

logger = logging.getLogger(__name__)

ACTIVATION_DTYPES = ("float16", "float32")


def _module_key(hookpoint: str) -> str:
    """nn.ModuleDict keys may not contain dots; hookpoint names do."""
    return hookpoint.replace(".", "__")


class LatentCacheModule(LightningModule):
    """Predict-only module: subject model + sparse coders -> nonzero latents per batch."""

    def __init__(
        self,
        model: str,
        sparse_model: str,
        hookpoints: list[str],
        dtype: str | None = None,
        activation_dtype: str = "float16",
        filter_bos: bool = False,
        load_in_8bit: bool = False,
    ) -> None:
        """
        Args:
            model: Subject model: a hub id, a local folder, a .gguf file or `embedded:SmolLM2-135M-Instruct`.
            sparse_model: Folder (or hub id) of the SAEs/transcoders, one per hookpoint; `assets/...` is
                looked up inside the package.
            hookpoints: Where the coders attach, relative to the block stack, e.g. `layers.15`, `layers.5.mlp`.
            dtype: Torch dtype of the subject model and coders; default float32 on CPU, bfloat16 on GPU.
            activation_dtype: Dtype of cached activations: float16 (float32 where a value overflows) or float32.
            filter_bos: Drop latent activations at BOS tokens (they are not counted as activations).
            load_in_8bit: Load the subject model's linear layers in 8 bits (bitsandbytes LLM.int8; CUDA
                only, checked here before anything loads); the coders keep `dtype`.
        """
        super().__init__()
        if not hookpoints:
            raise ValueError("hookpoints: give at least one hookpoint, e.g. layers.15")
        if len(set(hookpoints)) != len(hookpoints):
            raise ValueError(f"hookpoints: duplicated names in {hookpoints}")
        if activation_dtype not in ACTIVATION_DTYPES:
            raise ValueError(f"activation_dtype must be one of {ACTIVATION_DTYPES}, got {activation_dtype!r}")
        if dtype is not None and not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise ValueError(f"dtype: {dtype!r} is not a torch dtype name (e.g. float32, bfloat16)")
        if load_in_8bit:
            from autointerp.models.subject import check_load_in_8bit

            check_load_in_8bit()
        self.save_hyperparameters()
        self.model_name = model
        self.sparse_model = sparse_model
        self.hookpoints = list(hookpoints)
        self.dtype_name = dtype
        self.activation_dtype = activation_dtype
        self.filter_bos = filter_bos
        self.load_in_8bit = load_in_8bit
        self.subject: nn.Module | None = None
        self.coders = nn.ModuleDict()
        self.bos_token_id: int | None = None
        self.runner = None

    def _default_dtype(self, device: torch.device) -> str:
        return self.dtype_name or ("bfloat16" if device.type == "cuda" else "float32")

    def configure_model(self) -> None:
        """Load and check the subject model and coders (once), before the first forward."""
        if self.subject is not None:
            return
        self.load(self.trainer.strategy.root_device if self._trainer is not None else torch.device("cpu"))

    def load(self, device: torch.device | str = "cpu") -> None:
        """Load the subject model and coders on `device` and validate them (hookpoints, widths, BOS)."""
        from autointerp.models.hookpoints import HookpointRunner, resolve_hookpoints
        from autointerp.models.sparse_coders import check_compatible, load_sparse_coders
        from autointerp.models.subject import load_subject

        device = torch.device(device)
        dtype = getattr(torch, self._default_dtype(device))
        subject, tokenizer = load_subject(self.model_name, dtype=dtype, device=str(device),
                                          load_in_8bit=self.load_in_8bit)
        subject.requires_grad_(False)
        resolve_hookpoints(subject, self.hookpoints)  # an unknown name fails here, listing the valid ones
        coders = load_sparse_coders(
            resolve_sparse_model(self.sparse_model), self.hookpoints, device=str(device), dtype=dtype
        )
        check_compatible(coders, subject)
        runner = HookpointRunner(subject, self.hookpoints, read_input={hp: bool(c.transcoder) for hp, c in coders.items()})
        if self.filter_bos and tokenizer.bos_token_id is None:
            raise ValueError(f"filter_bos: the tokenizer of {self.model_name} has no BOS token")
        for coder in coders.values():
            coder.requires_grad_(False)
        self.subject, self.runner, self.bos_token_id = subject, runner, tokenizer.bos_token_id
        self.coders = nn.ModuleDict({_module_key(hp): coders[hp] for hp in self.hookpoints})
        logger.info("cache module ready: %s + %s at %s (%s)", self.model_name, self.sparse_model, self.hookpoints, dtype)

    def coder(self, hookpoint: str) -> nn.Module:
        """The sparse coder at a hookpoint."""
        return self.coders[_module_key(hookpoint)]

    def d_sae(self) -> dict[str, int]:
        """Number of latents per hookpoint."""
        return {hp: int(self.coder(hp).d_sae) for hp in self.hookpoints}

    def manifest_meta(self) -> dict[str, Any]:
        """What the writer records in the manifest about this module."""
        return {
            "model": self.model_name,
            "sparse_model": self.sparse_model,
            "hookpoints": list(self.hookpoints),
            "d_sae": self.d_sae(),
            "activation_dtype": self.activation_dtype,
            "filter_bos": self.filter_bos,
        }

    def forward(self, input_ids: torch.Tensor, rows: torch.Tensor) -> dict[str, tuple[torch.Tensor, ...]]:
        """input_ids [B, T], rows [B] -> {hookpoint: (token_index, latent, value)} nonzeros on the CPU."""
        if self.runner is None:
            raise RuntimeError("LatentCacheModule: call load() (or run it in a Trainer) before the forward pass")
        acts = self.runner(input_ids)
        coders = {hp: self.coder(hp) for hp in self.hookpoints}
        return encode_batch(acts, coders, rows, input_ids, self.bos_token_id if self.filter_bos else None)

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int = 0) -> dict[str, Any]:
        """One batch -> its rows, tokens, counted tokens and per-hookpoint nonzeros (all on the CPU)."""
        input_ids, rows = batch["input_ids"], batch["row"]
        latents = self(input_ids, rows)
        n_tokens = input_ids.numel()
        if self.filter_bos:
            n_tokens -= int((input_ids == self.bos_token_id).sum())
        return {"row": rows.cpu(), "input_ids": input_ids.cpu(), "n_tokens": n_tokens, "latents": latents}
