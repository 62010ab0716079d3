"""`LatentShardWriter`: streams each predict batch's nonzero latents into the on-disk cache.

Each rank writes its own shards and token file through `autointerp.latents.writer.ShardSink`
(flushing every `flush_tokens` tokens, so memory stays flat) on a writer thread fed by a bounded
queue, so sorting and writing a shard overlap the next batches' forward passes. When every rank is
done, rows held by two ranks are dropped from the higher one, rank 0 checks that it sees every
rank's files (several nodes need a shared filesystem) and writes `manifest.json` last.

Collectives happen only in `setup` and `teardown`, which every rank runs: a rank given no rows
skips Lightning's predict hooks, and a collective there would leave the other ranks waiting.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path
from typing import Any

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter

from autointerp.latents.manifest import Manifest
from autointerp.latents.writer import (
    ShardSink,
    build_manifest,
    check_files_visible,
    clear_cache_dir,
    rows_to_drop,
    write_manifest,
)
from callbacks._dist import all_gather_object

logger = logging.getLogger(__name__)

DATASET_KEYS = ("dataset_repo", "dataset_name", "dataset_split", "dataset_column", "n_tokens", "seed")


class LatentShardWriter(BasePredictionWriter):
    """Writes `results/<name>/latents`: shards per hookpoint, tokens per rank, then the manifest."""

    def __init__(self, output_dir: str = "results/default/latents", flush_tokens: int = 2**17,
                 queue_batches: int = 8) -> None:
        """
        Args:
            output_dir: The cache folder (`results/<name>/latents`); a previous cache there is replaced.
            flush_tokens: Write a shard every this many tokens per rank; bounds the writer's memory.
            queue_batches: Batches waiting for the writer thread at most; the loop waits when it is full.
        """
        super().__init__(write_interval="batch")
        if flush_tokens < 1:
            raise ValueError(f"flush_tokens must be positive, got {flush_tokens}")
        if queue_batches < 1:
            raise ValueError(f"queue_batches must be positive, got {queue_batches}")
        self.output_dir = Path(output_dir)
        self.flush_tokens = flush_tokens
        self.queue_batches = queue_batches
        self.sink: ShardSink | None = None
        self.manifest: Manifest | None = None
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Check the module and clear the folder (rank 0) before any rank writes."""
        if stage != "predict":
            return
        if not hasattr(pl_module, "manifest_meta"):
            raise TypeError(f"LatentShardWriter needs a LatentCacheModule, got {type(pl_module).__name__}")
        if trainer.is_global_zero:
            clear_cache_dir(self.output_dir)
        trainer.strategy.barrier("latent-writer-start")

    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Open this rank's sink and start its writer thread."""
        if trainer.predict_loop.return_predictions:
            logger.warning("return_predictions=True keeps every batch's latents in memory; the cache needs False")
        self._open(trainer, pl_module)

    def _open(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.sink = ShardSink(self.output_dir, pl_module.d_sae(), rank=trainer.global_rank,
                              flush_tokens=self.flush_tokens, activation_dtype=pl_module.activation_dtype)
        self._error = None
        self._queue = queue.Queue(maxsize=self.queue_batches)
        self._thread = threading.Thread(target=self._drain, name="latent-writer", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        """The writer thread: wait for each batch's host copy and hand it to the sink; keep the first error."""
        while (item := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self.sink.add(*item.numpy())
                except BaseException as exc:  # re-raised on the loop's thread
                    self._error = exc

    def write_on_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, prediction: Any, batch_indices, batch, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Queue one batch's host copy for the writer thread (waits only when the queue is full).

        A prediction without `host` (another module) gives CPU `latents` as (token_index, latent, value)."""
        self._raise_writer_error()
        self._queue.put(prediction.get("host") or _PlainBatch(prediction))

    def _stop_thread(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        self._raise_writer_error()

    def _raise_writer_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise RuntimeError(f"the latent writer thread failed: {error}") from error

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        """The run failed: stop the writer thread (no manifest is written, so the cache reads as incomplete)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Close every rank's files, drop rows held twice, check visibility and write the manifest last on rank 0."""
        if stage != "predict":
            return
        if self.sink is None:  # this rank got no rows: Lightning skipped its predict hooks
            self._open(trainer, pl_module)
        self._stop_thread()
        rows = all_gather_object(self.sink.rows)
        part = self.sink.close(rows_to_drop(rows, trainer.global_rank))
        parts = all_gather_object(part)
        if trainer.is_global_zero:
            check_files_visible(self.output_dir, parts)
            meta = {**pl_module.manifest_meta(), "dataset": _dataset_meta(trainer)}
            self.manifest = build_manifest(parts, meta)
            path = write_manifest(self.output_dir, self.manifest)
            logger.info("latent cache written: %s (%d tokens)", path, self.manifest.n_tokens)
        trainer.strategy.barrier("latent-writer-end")
        self.sink = None


class _PlainBatch:
    """A prediction whose latents are already global (token_index, latent, value) tensors, read on the writer thread."""

    def __init__(self, prediction: dict[str, Any]) -> None:
        self.prediction = prediction

    def numpy(self):
        """(rows, tokens, {hookpoint: nonzeros}) as numpy arrays."""
        p = self.prediction
        latents = {hp: tuple(t.cpu().numpy() for t in nz) for hp, nz in p["latents"].items()}
        return p["row"].cpu().numpy(), p["input_ids"].cpu().numpy(), latents


def _dataset_meta(trainer: Trainer) -> dict[str, Any] | None:
    """The datamodule's dataset settings, for the manifest."""
    datamodule = getattr(trainer, "datamodule", None)
    if datamodule is None:
        return None
    return {key: getattr(datamodule, key) for key in DATASET_KEYS if hasattr(datamodule, key)}
