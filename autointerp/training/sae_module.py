"""`SaeTrainingModule`: Lightning's fit loop trains a TopK SAE (or transcoder) on one hookpoint.

Each DataModule batch (`input_ids [B, T]`, `row [B]`) is turned into hookpoint activations by the
frozen subject model (forward stopped at the hookpoint, no grad), or read from the activation cache
when `activation_cache_dir` is set and the rows are already there. The tokens go through a
`ShuffleBuffer`; every minibatch it releases is one optimizer step (manual optimization, so one
DataModule batch can give several steps). Logged per step: loss, FVU, L0, dead fraction, aux loss.
At the end of fit the SAE is saved in the sparsify layout under `save_dir/<hookpoint>/`.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import lightning as L
import torch
from torch import Tensor

from autointerp.training.activation_buffer import ActivationCache, ShuffleBuffer, tokens_fingerprint
from autointerp.training.export import SAVE_DTYPES, save_sparsify
from autointerp.training.topk_sae import TopKSae

logger = logging.getLogger(__name__)


class _Frozen:
    """Holds the subject model outside the LightningModule's tree: never trained, never checkpointed."""

    def __init__(self, model, capture) -> None:
        self.model, self.capture = model, capture


class SaeTrainingModule(L.LightningModule):
    """Train a TopK sparse autoencoder (or transcoder) on a hookpoint of a frozen subject model."""

    def __init__(
        self,
        model: str,
        hookpoint: str,
        k: int = 32,
        expansion_factor: int = 8,
        num_latents: int | None = None,
        lr: float | None = None,
        transcoder: bool = False,
        aux_k: int | None = None,
        aux_coef: float = 1 / 32,
        dead_tokens_threshold: int = 10_000_000,
        buffer_size: int = 65_536,
        sae_batch_size: int = 2_048,
        save_dir: str = "sae",
        save_dtype: str = "float32",
        activation_cache_dir: str | None = None,
        model_dtype: str | None = None,
        max_norm_ratio: float | None = None,
        seed: int = 0,
    ) -> None:
        """
        Args:
            model: subject model (hub id, folder, .gguf file or `embedded:SmolLM2-135M-Instruct`);
                use the same string as the DataModule's tokenizer.
            hookpoint: where to read activations, e.g. `layers.15` (block output) or `layers.5.mlp`.
            k: latents kept per token (TopK).
            expansion_factor: num_latents = expansion_factor * d_in, unless num_latents is given.
            num_latents: the SAE width d_sae; overrides expansion_factor.
            lr: Adam learning rate; None: 2e-4 / sqrt(num_latents / 16384) (wider SAEs step smaller).
            transcoder: encode the hookpoint module's input and reconstruct its output.
            aux_k: dead latents used by the AuxK loss per token; None: d_in // 2.
            aux_coef: weight of the AuxK loss.
            dead_tokens_threshold: a latent is dead once it has not fired for this many tokens.
            buffer_size: tokens held in the shuffle buffer (half of it is released at a time).
            sae_batch_size: tokens per optimizer step.
            save_dir: the trained coder is saved to `save_dir/<hookpoint>/` (sparsify layout).
            save_dtype: float32, float16 or bfloat16 for the saved weights.
            activation_cache_dir: keep activations in float16 on disk there, keyed by dataset row,
                so epochs after the first (and reruns) skip the subject model. None: always stream.
            model_dtype: dtype of the subject model (None: float32).
            max_norm_ratio: leave out of training the tokens whose activation norm exceeds this
                multiple of their batch's median norm (attention sinks: SmolLM2's first position
                has ~135x the median norm and would carry 97% of the variance). None: keep all.
            seed: seed of the SAE's initialisation and the buffer's shuffling.
        """
        super().__init__()
        self.save_hyperparameters()
        if k < 1:
            raise ValueError(f"k: {k} must be positive")
        if num_latents is None and expansion_factor < 1:
            raise ValueError(f"expansion_factor: {expansion_factor} must be positive")
        if save_dtype not in SAVE_DTYPES:
            raise ValueError(f"save_dtype: {save_dtype!r} is not one of {SAVE_DTYPES}")
        if lr is not None and lr <= 0:
            raise ValueError(f"lr: {lr} must be positive")
        if max_norm_ratio is not None and max_norm_ratio <= 1:
            raise ValueError(f"max_norm_ratio: {max_norm_ratio} must be above 1 (or None)")
        self.automatic_optimization = False
        self.buffer = ShuffleBuffer(buffer_size, sae_batch_size, seed)
        self.sae: TopKSae | None = None
        self._subject: _Frozen | None = None
        self._cache: ActivationCache | None = None
        self._b_dec_ready = False

    # -- setup ---------------------------------------------------------------------------------

    def _load_subject(self) -> _Frozen:
        """Load the frozen subject model and the hookpoint capture (once)."""
        if self._subject is None:
            from autointerp.models.subject import load_subject
            from autointerp.training.capture import HookpointCapture

            subject, _ = load_subject(self.hparams.model, dtype=self.hparams.model_dtype)
            subject.requires_grad_(False)
            self._subject = _Frozen(subject, HookpointCapture(subject, self.hparams.hookpoint))
        return self._subject

    def setup(self, stage: str) -> None:
        """Refuse several devices before anything loads: each rank would train its own SAE on its own
        shuffle buffer (steps are taken by hand, with no gradient all-reduce) and rank 0 would save only its own."""
        if stage == "fit" and self.trainer.world_size > 1:
            raise ValueError(
                f"trainer.devices: fit trains the SAE on one device, but this run has {self.trainer.world_size} "
                "processes; set trainer.devices=1 (and trainer.num_nodes=1)"
            )

    def configure_model(self) -> None:
        """Build the SAE once the subject model tells us its width."""
        if self.sae is not None:
            return
        from autointerp.models.hookpoints import hidden_size

        subject = self._load_subject()
        d_in = hidden_size(subject.model)
        hp = self.hparams
        num_latents = hp.num_latents or hp.expansion_factor * d_in
        torch.manual_seed(hp.seed)
        self.sae = TopKSae(d_in, num_latents, hp.k, transcode=hp.transcoder, aux_k=hp.aux_k,
                           dead_tokens_threshold=hp.dead_tokens_threshold)

    def configure_optimizers(self):
        """Adam over the SAE's parameters."""
        lr = self.hparams.lr or 2e-4 / math.sqrt(self.sae.num_latents / 2**14)
        return torch.optim.Adam(self.sae.parameters(), lr=lr, eps=6.25e-10)

    def on_fit_start(self) -> None:
        """Move the subject model to our device."""
        self._fit_start = time.perf_counter()
        self._load_subject().model.to(self.device)

    def on_train_start(self) -> None:
        """Open the activation cache, sized by the train dataloader's dataset (rows x ctx_len)."""
        if self.hparams.activation_cache_dir and self._cache is None:
            loader = self.trainer.train_dataloader
            dataset = getattr(loader, "dataset", None)
            if dataset is None:
                raise ValueError("activation_cache_dir: needs a train dataloader with a sized dataset")
            hp = self.hparams
            meta = {"model": hp.model, "hookpoint": hp.hookpoint, "model_dtype": hp.model_dtype,
                    "tokens_sha256": tokens_fingerprint(dataset)}
            self._cache = ActivationCache(hp.activation_cache_dir, meta, len(dataset), len(dataset[0]["input_ids"]),
                                          self.sae.d_in, paired=hp.transcoder)

    # -- training ------------------------------------------------------------------------------

    def activations(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor | None]:
        """Encoder inputs (and transcoder targets) of a DataModule batch, [B, T, d] each, float32.

        With the activation cache, only the rows not cached yet go through the subject model; the
        batch then comes back from the cache (rows in ascending order: the buffer shuffles anyway).
        """
        if self._cache is None:
            return self._run_subject(batch["input_ids"])
        rows = batch["row"]
        missing = self._cache.missing(rows)
        if missing.any():
            inputs, targets = self._run_subject(batch["input_ids"][missing.to(batch["input_ids"].device)])
            self._cache.write(rows[missing.to(rows.device)], inputs, targets)
        return self._cache.read(rows)

    def _run_subject(self, input_ids: Tensor) -> tuple[Tensor, Tensor | None]:
        """The frozen subject model on input_ids [B, T]: (SAE input, None) or (module input, output)."""
        inputs, outputs = self._subject.capture(input_ids)
        if not self.hparams.transcoder:
            return outputs.float(), None
        return inputs.float(), outputs.float()

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        """Push the batch's tokens into the buffer and take one step per minibatch it releases."""
        inputs, targets = self.activations(batch)
        d = inputs.shape[-1]
        x = inputs.reshape(-1, d).to(self.device)
        y = None if targets is None else targets.reshape(-1, d).to(self.device)
        if self.hparams.max_norm_ratio is not None:
            norms = x.norm(dim=1)
            keep = norms <= self.hparams.max_norm_ratio * norms.median()
            x, y = x[keep], None if y is None else y[keep]
        self.buffer.push(x, y)
        for x, y in self.buffer.ready():
            self.sae_step(x, y)
        if self._cache is not None and batch_idx % 64 == 63:
            self._cache.flush()  # a killed run keeps the rows it already computed

    def sae_step(self, x: Tensor, y: Tensor | None, log: bool = True) -> dict[str, float]:
        """One optimizer step on a minibatch x [N, d_in] (y: transcoder target [N, d_out])."""
        target = x if y is None else y
        if not self._b_dec_ready and self.trainer.global_step == 0:  # not on a resumed run
            self.sae.init_b_dec(target)
            self._b_dec_ready = True
        optimizer = self.optimizers()
        out = self.sae(x, y)
        loss = out.fvu + self.hparams.aux_coef * out.aux_loss
        optimizer.zero_grad()
        self.manual_backward(loss)
        self.sae.remove_gradient_parallel_to_decoder_rows()
        optimizer.step()
        self.sae.set_decoder_norm_to_unit_norm()
        metrics = {
            "train/loss": loss.item(),
            "train/fvu": out.fvu.item(),
            "train/aux_loss": out.aux_loss.item(),
            "train/l0": (out.values > 0).sum(1).float().mean().item(),
            "train/dead_fraction": out.n_dead / self.sae.num_latents,
        }
        if log:  # Lightning allows no per-step logging from epoch-end hooks
            self.log_dict(metrics, on_step=True, on_epoch=False, prog_bar=False, batch_size=x.shape[0])
        return metrics

    def on_train_epoch_end(self) -> None:
        """Train on what is left in the buffer and make the cache's new rows durable."""
        for x, y in self.buffer.drain():
            if x.shape[0] >= self.buffer.batch_size // 4:  # a tiny tail would give a noisy step
                self.sae_step(x, y, log=False)
        if self._cache is not None:
            self._cache.flush()

    def on_train_end(self) -> None:
        """Save the trained coder in the sparsify layout (rank zero only)."""
        if self.trainer.is_global_zero:
            folder = Path(self.hparams.save_dir) / self.hparams.hookpoint
            save_sparsify(self.sae, folder, self.hparams.save_dtype,
                          extra_cfg={"hookpoint": self.hparams.hookpoint, "model": self.hparams.model})
            elapsed = time.perf_counter() - getattr(self, "_fit_start", time.perf_counter())
            logger.info("trained for %.0f s; saved the sparse coder to %s", elapsed, folder)
