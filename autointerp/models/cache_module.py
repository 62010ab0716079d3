"""`LatentCacheModule`: Lightning's predict loop runs the subject model plus its sparse coders.

`predict_step` runs ONE forward pass, stopped after the deepest hookpoint, encodes every
hookpoint's activations with its coder and returns only the nonzeros, left on the device:

    {"row": LongTensor[B], "input_ids": LongTensor[B, T], "n_tokens": int or 0-dim tensor,
     "latents": {hookpoint: (batch position int32 [nnz] in [0, B*T), latent int32 [nnz], value float32 [nnz])},
     "host": HostCopy}   # the same, being copied to host memory without blocking

The writer callback (`callbacks.shard_writer.LatentShardWriter`) streams `host` to disk on its own
thread. The loop never waits for the GPU except for one compaction per hookpoint.

Lifecycle on a GPU node: `prepare_data` downloads hub files once per node; `configure_model` loads
on each rank (blocks after the deepest hookpoint and the LM head are dropped before the model
reaches the GPU, and free GPU memory is checked first); `on_predict_end` frees every weight, before
Lightning's teardown would copy the module to host RAM.
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningModule
from torch import nn

from autointerp.models.device_memory import GIB, check_free_memory, gather_ranks, memory_problem, nbytes
from autointerp.models.encode import HostCopy, encode_on_device
from autointerp.models.sparse_coders.loading import resolve_sparse_model

__all__ = ["GIB", "LatentCacheModule", "check_free_memory", "resolve_sparse_model"]

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
        coder_dtype: str | None = None,
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
            coder_dtype: Torch dtype of the coders (None: `dtype`). float32 makes the top-k selection on
                a GPU the same as on a CPU (bfloat16 pre-activations tie and round differently), at the
                cost of a float32 encoder matmul.
        """
        super().__init__()
        if not hookpoints:
            raise ValueError("hookpoints: give at least one hookpoint, e.g. layers.15")
        if len(set(hookpoints)) != len(hookpoints):
            raise ValueError(f"hookpoints: duplicated names in {hookpoints}")
        if activation_dtype not in ACTIVATION_DTYPES:
            raise ValueError(f"activation_dtype must be one of {ACTIVATION_DTYPES}, got {activation_dtype!r}")
        for name, value in (("dtype", dtype), ("coder_dtype", coder_dtype)):
            if value is not None and not isinstance(getattr(torch, value, None), torch.dtype):
                raise ValueError(f"{name}: {value!r} is not a torch dtype name (e.g. float32, bfloat16)")
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
        self.coder_dtype = coder_dtype
        self.subject: nn.Module | None = None
        self.coders = nn.ModuleDict()
        self.bos_token_id: int | None = None
        self.runner = None
        self._d_sae: dict[str, int] | None = None  # kept after release(), for the writer's manifest
        # more ranks than rows: a rank with none skips the loop, and the writer's teardown still meets the others
        self.allow_zero_length_dataloader_with_multiple_devices = True

    def _default_dtype(self, device: torch.device) -> str:
        return self.dtype_name or ("bfloat16" if device.type == "cuda" else "float32")

    def prepare_data(self) -> None:
        """Once per node, before any rank loads: download the hub files of the subject model and the coders."""
        from autointerp.models import hub
        from autointerp.models.subject import resolve_model_source

        if _hub_offline():
            return
        sparse = resolve_sparse_model(self.sparse_model)
        if not Path(sparse).expanduser().exists() and hub.looks_like_hub_id(sparse):
            hub.fetch_coders(sparse, self.hookpoints)
        source, kwargs = resolve_model_source(self.model_name)
        if not kwargs and not Path(source).expanduser().exists() and hub.looks_like_hub_id(source):
            hub.fetch_model(source)

    def configure_model(self) -> None:
        """Load and check the subject model and coders (once), before the first forward."""
        if self.subject is not None:
            return
        if self._trainer is None:
            self.load(torch.device("cpu"))
        else:  # prepare_data has fetched the hub files on this node: read them without the network
            self.load(self.trainer.strategy.root_device, local_files_only=True, every_rank=True)

    def load(self, device: torch.device | str = "cpu", *, local_files_only: bool = False, every_rank: bool = False) -> None:
        """Load the subject model and coders on `device` and validate them (hookpoints, widths, BOS).

        `every_rank`: every rank of the process group calls this together; a rank short of GPU memory
        then stops them all with the same message (instead of the others waiting at the next collective)."""
        from autointerp.models.hookpoints import HookpointRunner, drop_after_hookpoints, resolve_hookpoints
        from autointerp.models.sparse_coders import check_compatible, load_sparse_coders
        from autointerp.models.subject import load_subject

        device = torch.device(device)
        dtype = getattr(torch, self._default_dtype(device))
        staging = str(device) if self.load_in_8bit else "cpu"  # an 8-bit model is placed by device_map
        subject, tokenizer = load_subject(_local_source(self.model_name, local_files_only), dtype=dtype,
                                          device=staging, load_in_8bit=self.load_in_8bit)
        subject.requires_grad_(False)
        resolve_hookpoints(subject, self.hookpoints)  # an unknown name fails here, listing the valid ones
        coder_dtype = getattr(torch, self.coder_dtype) if self.coder_dtype else dtype
        coders = load_sparse_coders(resolve_sparse_model(self.sparse_model), self.hookpoints, dtype=coder_dtype,
                                    local_files_only=local_files_only)
        check_compatible(coders, subject)
        drop_after_hookpoints(subject, self.hookpoints)  # later blocks and the LM head never run
        if self.filter_bos and tokenizer.bos_token_id is None:
            raise ValueError(f"filter_bos: the tokenizer of {self.model_name} has no BOS token")
        needed = nbytes(*coders.values()) + (0 if self.load_in_8bit else nbytes(subject))
        problems = [p for p in gather_ranks(memory_problem(device, needed), every_rank) if p]
        if problems:
            raise ValueError("; ".join(problems))
        if not self.load_in_8bit:
            subject.to(device)
        for coder in coders.values():
            coder.requires_grad_(False).to(device)
        runner = HookpointRunner(subject, self.hookpoints, read_input={hp: bool(c.transcoder) for hp, c in coders.items()})
        self.subject, self.runner, self.bos_token_id = subject, runner, tokenizer.bos_token_id
        self.coders = nn.ModuleDict({_module_key(hp): coders[hp] for hp in self.hookpoints})
        self._d_sae = {hp: int(coders[hp].d_sae) for hp in self.hookpoints}
        logger.info("cache module ready: %s + %s at %s (%s)", self.model_name, self.sparse_model, self.hookpoints, dtype)

    def attach(self, subject: nn.Module, coders: dict[str, nn.Module], bos_token_id: int | None = None) -> None:
        """Use an already built subject model and coders (placed where they should run) instead of loading."""
        from autointerp.models.hookpoints import HookpointRunner

        coders = {hp: coders[hp] for hp in self.hookpoints}
        self.subject = subject.requires_grad_(False).eval()
        self.runner = HookpointRunner(subject, self.hookpoints, read_input={hp: bool(c.transcoder) for hp, c in coders.items()})
        self.coders = nn.ModuleDict({_module_key(hp): c.requires_grad_(False) for hp, c in coders.items()})
        self._d_sae = {hp: int(c.d_sae) for hp, c in coders.items()}
        self.bos_token_id = bos_token_id

    def release(self) -> None:
        """Drop the subject model and coders and hand their GPU memory back (idempotent)."""
        self.subject, self.runner = None, None
        self.coders = nn.ModuleDict()
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def on_predict_end(self) -> None:
        """Free the weights now: Lightning's teardown moves the module to the CPU next, which would
        copy the whole model into host RAM on every rank (after the writer callbacks have run)."""
        self.release()

    def coder(self, hookpoint: str) -> nn.Module:
        """The sparse coder at a hookpoint."""
        return self.coders[_module_key(hookpoint)]

    def d_sae(self) -> dict[str, int]:
        """Number of latents per hookpoint."""
        if self._d_sae is None:
            raise RuntimeError("LatentCacheModule: d_sae is known once the coders are loaded (load() or a Trainer)")
        return dict(self._d_sae)

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
        """input_ids [B, T] -> {hookpoint: (batch position int32, latent int32, value float32)} on the coders' device."""
        if self.runner is None:
            raise RuntimeError("LatentCacheModule: call load() (or run it in a Trainer) before the forward pass")
        acts = self.runner(input_ids)
        coders = {hp: self.coder(hp) for hp in self.hookpoints}
        return encode_on_device(acts, coders, input_ids, self.bos_token_id if self.filter_bos else None)

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int = 0) -> dict[str, Any]:
        """One batch -> rows, tokens, counted tokens and per-hookpoint nonzeros (on the device), plus their host copy."""
        input_ids, rows = batch["input_ids"], batch["row"]
        latents = self(input_ids, rows)
        n_tokens: int | torch.Tensor = input_ids.numel()
        if self.filter_bos:  # a 0-dim tensor: reading it here would wait for the GPU
            n_tokens = n_tokens - (input_ids == self.bos_token_id).sum()
        return {"row": rows, "input_ids": input_ids, "n_tokens": n_tokens, "latents": latents,
                "host": HostCopy(rows, input_ids, latents)}


def _hub_offline() -> bool:
    """True when huggingface_hub is told not to reach the network (HF_HUB_OFFLINE)."""
    import huggingface_hub

    return bool(huggingface_hub.constants.HF_HUB_OFFLINE)


def _local_source(model: str, local_files_only: bool) -> str:
    """The local snapshot folder of a hub model already fetched by `prepare_data`, else `model` itself."""
    from autointerp.models import hub
    from autointerp.models.subject import resolve_model_source

    source, kwargs = resolve_model_source(model)
    if not local_files_only or kwargs or Path(source).expanduser().exists() or not hub.looks_like_hub_id(source):
        return model
    snapshot = hub.cached_snapshot(source)
    return str(snapshot) if snapshot is not None else model
