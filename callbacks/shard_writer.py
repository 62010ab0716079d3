"""`LatentShardWriter`: streams each predict batch's nonzero latents into the on-disk cache.

Each rank writes its own shards and token file through `autointerp.latents.writer.ShardSink`
(flushing every `flush_tokens` tokens, so memory stays flat); when every rank is done, rows held
by two ranks are dropped from the higher one, and rank 0 writes `manifest.json` last.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter

from autointerp.latents.cache import nonzeros_to_numpy
from autointerp.latents.writer import ShardSink, build_manifest, clear_cache_dir, rows_to_drop, write_manifest
from callbacks._dist import all_gather_object

logger = logging.getLogger(__name__)

DATASET_KEYS = ("dataset_repo", "dataset_name", "dataset_split", "dataset_column", "n_tokens", "seed")


class LatentShardWriter(BasePredictionWriter):
    """Writes `results/<name>/latents`: shards per hookpoint, tokens per rank, then the manifest."""

    def __init__(self, output_dir: str = "results/default/latents", flush_tokens: int = 2**17) -> None:
        """
        Args:
            output_dir: The cache folder (`results/<name>/latents`); a previous cache there is replaced.
            flush_tokens: Write a shard every this many tokens per rank; bounds the writer's memory.
        """
        super().__init__(write_interval="batch")
        if flush_tokens < 1:
            raise ValueError(f"flush_tokens must be positive, got {flush_tokens}")
        self.output_dir = Path(output_dir)
        self.flush_tokens = flush_tokens
        self.sink: ShardSink | None = None
        self.manifest: dict[str, Any] | None = None

    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Clear the folder (rank 0), then open this rank's sink."""
        if not hasattr(pl_module, "manifest_meta"):
            raise TypeError(f"LatentShardWriter needs a LatentCacheModule, got {type(pl_module).__name__}")
        if trainer.predict_loop.return_predictions:
            logger.warning("return_predictions=True keeps every batch's latents in memory; the cache needs False")
        if trainer.is_global_zero:
            clear_cache_dir(self.output_dir)
        trainer.strategy.barrier("latent-writer-start")
        self.sink = ShardSink(
            self.output_dir,
            pl_module.d_sae(),
            rank=trainer.global_rank,
            flush_tokens=self.flush_tokens,
            activation_dtype=pl_module.activation_dtype,
        )

    def write_on_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, prediction: Any, batch_indices, batch, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Hand one batch's nonzeros to the sink (it flushes a shard when enough tokens are buffered)."""
        self.sink.add(prediction["row"].numpy(), prediction["input_ids"].numpy(), nonzeros_to_numpy(prediction["latents"]))

    def on_predict_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Close every rank's files, drop rows held twice, and write the manifest last on rank 0."""
        rows = all_gather_object(self.sink.rows)
        part = self.sink.close(rows_to_drop(rows, trainer.global_rank))
        parts = all_gather_object(part)
        if trainer.is_global_zero:
            meta = {**pl_module.manifest_meta(), "dataset": _dataset_meta(trainer)}
            self.manifest = build_manifest(parts, meta)
            path = write_manifest(self.output_dir, self.manifest)
            logger.info("latent cache written: %s (%d tokens)", path, self.manifest["n_tokens"])
        trainer.strategy.barrier("latent-writer-end")
        self.sink = None


def _dataset_meta(trainer: Trainer) -> dict[str, Any] | None:
    """The datamodule's dataset settings, for the manifest."""
    datamodule = getattr(trainer, "datamodule", None)
    if datamodule is None:
        return None
    return {key: getattr(datamodule, key) for key in DATASET_KEYS if hasattr(datamodule, key)}
