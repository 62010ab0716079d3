"""`LatentStatistics`: tokens seen, fraction of latents alive and mean L0 per hookpoint, to the loggers.

Computed from the nonzeros `predict_step` returns, on their device (no dense tensors, no host
sync per batch); reduced across ranks in `teardown`, which every rank runs (a rank given no rows
skips the predict hooks), and logged by rank 0 to every logger of the Trainer (MLflow, TensorBoard).
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer


class LatentStatistics(Callback):
    """Logs `cache/tokens`, `cache/<hookpoint>/alive_fraction` and `cache/<hookpoint>/mean_l0`."""

    def __init__(self, log_every_n_batches: int = 50) -> None:
        """
        Args:
            log_every_n_batches: Log this rank's running figures every so many batches (rank 0 only).
        """
        if log_every_n_batches < 1:
            raise ValueError(f"log_every_n_batches must be positive, got {log_every_n_batches}")
        self.log_every_n_batches = log_every_n_batches
        self.metrics: dict[str, float] = {}
        self._tokens = 0
        self._alive: dict[str, torch.Tensor] = {}
        self._nnz: dict[str, int] = {}

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Reset the counters (they are filled on the device by the predict hooks)."""
        self._tokens, self._alive, self._nnz = 0, {}, {}

    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """One alive mask [d_sae] per hookpoint, on the module's device."""
        self._alive = {hp: torch.zeros(d, dtype=torch.bool, device=pl_module.device) for hp, d in pl_module.d_sae().items()}
        self._nnz = {hp: 0 for hp in self._alive}

    def on_predict_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Count the batch's tokens and nonzeros."""
        self._tokens = self._tokens + outputs["n_tokens"]  # an int, or a 0-dim tensor left on the device
        for hp, (_, latent, _) in outputs["latents"].items():
            self._alive[hp][latent.to(self._alive[hp].device)] = True
            self._nnz[hp] += len(latent)  # the shape is known on the host after the compaction
        if trainer.is_global_zero and (batch_idx + 1) % self.log_every_n_batches == 0:
            _log(trainer, self._compute(self._tokens, self._nnz, self._alive), step=batch_idx)

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Sum tokens and nonzeros and OR the alive masks over ranks; rank 0 logs the totals."""
        if stage != "predict":
            return
        if not self._alive:  # no rows on this rank
            self._alive = {hp: torch.zeros(d, dtype=torch.bool) for hp, d in pl_module.d_sae().items()}
            self._nnz = {hp: 0 for hp in self._alive}
        counts = torch.tensor([int(self._tokens), *self._nnz.values()], dtype=torch.float64)
        counts = trainer.strategy.reduce(counts.to(trainer.strategy.root_device), reduce_op="sum").cpu()
        alive = {}
        for hp, mask in self._alive.items():
            summed = trainer.strategy.reduce(mask.float().to(trainer.strategy.root_device), reduce_op="sum")
            alive[hp] = summed.cpu() > 0
        nnz = dict(zip(self._nnz, (int(c) for c in counts[1:])))
        self.metrics = self._compute(int(counts[0]), nnz, alive)
        if trainer.is_global_zero:
            _log(trainer, self.metrics, step=trainer.predict_loop.batch_progress.total.completed)

    @staticmethod
    def _compute(tokens: int, nnz: dict[str, int], alive: dict[str, torch.Tensor]) -> dict[str, float]:
        metrics = {"cache/tokens": float(tokens)}
        for hp in nnz:
            metrics[f"cache/{hp}/alive_fraction"] = float(alive[hp].float().mean())
            metrics[f"cache/{hp}/mean_l0"] = nnz[hp] / max(tokens, 1)
        return metrics


def _log(trainer: Trainer, metrics: dict[str, float], step: int) -> None:
    for logger in trainer.loggers:
        logger.log_metrics(metrics, step=step)
        logger.save()
