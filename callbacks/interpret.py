"""`InterpretAfterPredict`: once the cache is on disk, free the subject model and run the interpret stage.

`teardown` (every rank, after the writer's) only frees the weights. The stage itself runs from
`run_after_predict`, which the CLI calls once `trainer.predict` has returned: on global rank 0 only,
after the process group is destroyed and torchrun's variables are taken out of the environment, so
an in-process explainer (vLLM) starts as a plain single-process program.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer

from autointerp.pipeline.config import InterpretConfig

logger = logging.getLogger(__name__)

LAUNCHER_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "NODE_RANK",
                      "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID", "TORCHELASTIC_RESTART_COUNT",
                      "TORCHELASTIC_MAX_RESTARTS", "PL_GLOBAL_SEED", "PL_TRAINER_GPUS")
"""Variables torchrun and Lightning's launcher set; a library started in-process would read them as its own."""


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
        self._predict_s = 0.0
        self._ready = False  # set on teardown after predict: run_after_predict then interprets

    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Start the predict clock."""
        self._predict_start = time.perf_counter()

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """After predict, on every rank: stop the predict clock and free the model."""
        if stage != "predict" or not self.config.enabled:
            return
        self._predict_s = time.perf_counter() - self._predict_start
        release_subject_model(pl_module)
        self._ready = True

    def run_after_predict(self, trainer: Trainer) -> None:
        """Interpret on global rank 0 once `trainer.predict` has returned; other ranks return at once."""
        if not self._ready or not trainer.is_global_zero:
            return
        from autointerp.pipeline.run import Parts, interpret

        run_id, tracking_uri = _mlflow_run(trainer)
        parts = Parts(extra_timing={"predict": self._predict_s}, mlflow_run_id=run_id, mlflow_tracking_uri=tracking_uri)
        end_process_group()
        with _without_launcher_variables():
            self.summary = interpret(self.run_dir, self.config, self.run_config, parts)


def end_process_group() -> None:
    """Destroy torch.distributed's process group (NCCL or gloo) when one is up; the cache is complete."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def _without_launcher_variables() -> Iterator[None]:
    """Take torchrun's and Lightning's rank variables out of os.environ for the block, then put them back."""
    saved = {k: os.environ.pop(k) for k in LAUNCHER_VARIABLES if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def run_interpret_callbacks(trainer: Trainer) -> None:
    """Call `run_after_predict` of every InterpretAfterPredict of the trainer (the CLI's hook after predict)."""
    for callback in trainer.callbacks:
        if isinstance(callback, InterpretAfterPredict):
            callback.run_after_predict(trainer)


def _mlflow_run(trainer: Trainer) -> tuple[str | None, str | None]:
    """Run id and tracking URI of the Trainer's MLFlowLogger, so predict and interpret share one MLflow run."""
    for lg in trainer.loggers:
        if type(lg).__name__ == "MLFlowLogger":
            return lg.run_id, lg._tracking_uri
    return None, None
