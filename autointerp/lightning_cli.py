"""`AutoInterpCLI`: the Lightning subcommands (`fit`, `predict`, ...) of `autointerp`.

One CLI for every LightningModule (`subclass_mode_model=True`): `predict` with
`autointerp.models.cache_module.LatentCacheModule` writes the latent cache, `fit` with the
SAE-training module trains an SAE. The datamodule is always `TokenizedTextDataModule`, and its
tokenizer is the subject model's (`model.init_args.model` is linked to `data.tokenizer`).
Outputs: `results/<name>/` (`--name`), TensorBoard under `lightning_logs/<name>/`, MLflow at
`$MLFLOW_TRACKING_URI` or `sqlite:///mlflow.db`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback

from autointerp.data.module import TokenizedTextDataModule
from autointerp.interpret_cli import use_attribute_docstrings
from autointerp.pipeline.outputs import RunPaths, write_run_config
from autointerp.pipeline.predict_hooks import (
    add_interpret_argument,
    interpret_callbacks,
    print_results,
    resolved_config,
    reuse_cache,
)

logger = logging.getLogger(__name__)

EXPERIMENT = "autointerp"


def run_dir(name: str) -> Path:
    """`results/<name>`: where a run's outputs go."""
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"name: {name!r} must be a plain folder name (no '/')")
    return Path("results") / name


def default_loggers(name: str, interpret: Any = None) -> list[Any]:
    """TensorBoard under lightning_logs/<name>/ and MLflow, where the `interpret:` section says
    (`tracking_uri`, else $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db; `experiment`; none with `mlflow: false`)."""
    from lightning.pytorch.loggers import MLFlowLogger, TensorBoardLogger

    from autointerp.pipeline.tracking import resolve_tracking_uri

    loggers: list[Any] = [TensorBoardLogger(save_dir="lightning_logs", name=name)]
    if interpret is None or interpret.mlflow:
        uri = resolve_tracking_uri(interpret.tracking_uri if interpret is not None else None)
        experiment = interpret.experiment if interpret is not None else EXPERIMENT
        loggers.append(MLFlowLogger(experiment_name=experiment, run_name=name, tracking_uri=uri))
    return loggers


class ConfigSaver(SaveConfigCallback):
    """Saves the resolved config to the log dir when there is one, and to MLflow as `config.yaml`.

    Lightning's stock callback asserts on a logger without a log dir (MLflow on sqlite); this one
    skips the file then, and always logs the config as an MLflow artifact.
    """

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Save once, before the loop starts."""
        if not self.already_saved:
            self.save_to_log_dir = trainer.log_dir is not None
        super().setup(trainer, pl_module, stage)

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Log the config text to every MLflow logger's run (rank 0 only)."""
        from lightning.pytorch.loggers import MLFlowLogger

        from autointerp.pipeline.tracking import tag_experiment

        text = self.parser.dump(self.config, skip_none=False)
        for log in trainer.loggers:
            if isinstance(log, MLFlowLogger):
                log.experiment.log_text(log.run_id, text, self.config_filename)
                tag_experiment(log.experiment, log.experiment_id)


class AutoInterpCLI(LightningCLI):
    """LightningCLI with `--name`, the default loggers, and the latent writer on `predict`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("model_class", LightningModule)
        kwargs.setdefault("datamodule_class", TokenizedTextDataModule)
        kwargs.setdefault("subclass_mode_model", True)
        kwargs.setdefault("save_config_callback", ConfigSaver)
        kwargs.setdefault("save_config_kwargs", {"overwrite": True})
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        """`--name`, `--flush_tokens`, and the subject model -> tokenizer link."""
        parser.add_argument("--name", type=str, default="default", help="Run name: outputs go to results/<name>/.")
        parser.add_argument(
            "--flush_tokens", type=int, default=2**17,
            help="predict: write a shard every this many tokens per rank (bounds the writer's memory).",
        )
        parser.link_arguments("model", "data.tokenizer", compute_fn=_subject_model, apply_on="parse")
        add_interpret_argument(parser)

    def before_instantiate_classes(self) -> None:
        """Check `--name` before anything heavy loads; make `filter_bos` one setting for data and model."""
        run_dir(self._get(self.config, "name"))
        config = self.config.get(str(self.subcommand), self.config)
        init_args = config.model.get("init_args") if hasattr(config.model, "get") else None
        if init_args is not None and "filter_bos" in init_args and "filter_bos" in config.data:
            both = bool(init_args.filter_bos or config.data.filter_bos)
            init_args.filter_bos = config.data.filter_bos = both

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """Default loggers when none are configured; the shard writer and statistics on `predict`."""
        config = self._get(self.config_init, "trainer", default={})
        name = self._get(self.config, "name")
        if config.get("logger") in (None, True):
            kwargs["logger"] = default_loggers(name, self._get(self.config_init, "interpret"))
        if self.subcommand == "predict":
            kwargs["callbacks"] = [*_as_list(config.get("callbacks")), *self.predict_callbacks(name)]
        return super().instantiate_trainer(**kwargs)

    def predict_callbacks(self, name: str) -> list[Any]:
        """The latent cache writer (`results/<name>/latents`) and the statistics logger."""
        from callbacks.latent_statistics import LatentStatistics
        from callbacks.shard_writer import LatentShardWriter

        flush_tokens = self._get(self.config, "flush_tokens")
        writers = [LatentShardWriter(str(run_dir(name) / "latents"), flush_tokens=flush_tokens), LatentStatistics()]
        return writers + interpret_callbacks(self, name)

    def predict(self, model: LightningModule, datamodule: Any = None, ckpt_path: str | None = None, **_: Any) -> None:
        """Run the predict loop without keeping predictions: the writer streams them to disk.

        A finished cache of the same model, sparse model and hookpoints is reused (the interpret
        stage then runs on it) unless `--interpret.overwrite` names `cache`."""
        if self.trainer.is_global_zero:  # every predict run leaves its resolved config, interpreted or not
            write_run_config(RunPaths(run_dir(self._get(self.config, "name"))), resolved_config(self))
        if reuse_cache(self, model):
            return
        self.trainer.predict(model, datamodule=datamodule, return_predictions=False, ckpt_path=ckpt_path)

    def after_predict(self) -> None:
        """Print the interpret stage's results table (rank 0, when it ran)."""
        print_results(self)


def _subject_model(model: Any) -> str | None:
    """The subject model string of a model config (`init_args.model`), which names the tokenizer too."""
    init_args = getattr(model, "init_args", None) or {}
    return init_args.get("model") if hasattr(init_args, "get") else None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def run(args: list[str] | None = None) -> AutoInterpCLI:
    """Run the Lightning CLI on `args` (default: sys.argv[1:])."""
    use_attribute_docstrings()
    return AutoInterpCLI(args=args)
