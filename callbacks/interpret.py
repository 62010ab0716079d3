"""`InterpretAfterPredict`: once the cache is on disk, free the subject model and run the interpret stage.

Runs in `teardown`, which Lightning calls after every callback's `on_predict_end` (so the writer's
manifest exists) and after the strategy has moved the module off the accelerator. Under DDP every
rank calls it; only global rank 0 interprets.
"""

from __future__ import annotations

import gc
import logging
import time
from pathlib import Path
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer

from autointerp.pipeline.config import InterpretConfig

logger = logging.getLogger(__name__)


def release_subject_model(pl_module: LightningModule) -> None:
    """Drop the subject model's and sparse coders' weights: the interpret stage does not need them."""
    release = getattr(pl_module, "release", None)
    if callable(release):
        release()
    else:
        for param in pl_module.parameters():
            param.data = param.data.new_empty(0)
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class InterpretAfterPredict(Callback):
    """Interpret `run_dir` after predict, on rank 0, with `config`; its summary lands in `self.summary`."""

    def __init__(self, run_dir: str, config: InterpretConfig | None = None, run_config: dict[str, Any] | None = None) -> None:
        """
        Args:
            run_dir: The run folder (`results/<name>`), whose `latents/` the writer fills.
            config: Settings of the interpret stage (defaults when None).
            run_config: The full resolved config, written to `run_config.json` and logged to MLflow.
        """
        self.run_dir = Path(run_dir)
        self.config = config if config is not None else InterpretConfig()
        self.run_config = run_config
        self.summary: dict[str, Any] | None = None
        self._predict_start = 0.0

    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Start the predict clock."""
        self._predict_start = time.perf_counter()

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """After predict: release the model, then interpret on global rank 0."""
        if stage != "predict" or not self.config.enabled:
            return
        predict_s = time.perf_counter() - self._predict_start
        release_subject_model(pl_module)
        if not trainer.is_global_zero:
            return
        from autointerp.pipeline.run import Parts, interpret

        run_id, tracking_uri = _mlflow_run(trainer)
        parts = Parts(extra_timing={"predict": predict_s}, mlflow_run_id=run_id, mlflow_tracking_uri=tracking_uri)
        self.summary = interpret(self.run_dir, self.config, self.run_config, parts)


def _mlflow_run(trainer: Trainer) -> tuple[str | None, str | None]:
    """Run id and tracking URI of the Trainer's MLFlowLogger, so predict and interpret share one MLflow run."""
    for lg in trainer.loggers:
        if type(lg).__name__ == "MLFlowLogger":
            return lg.run_id, lg._tracking_uri
    return None, None
