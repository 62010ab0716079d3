"""`AutoInterpCLI`: the Lightning subcommands (`fit`, `predict`, ...) of `autointerp`.

One CLI for every LightningModule (`subclass_mode_model=True`): `predict` with
`autointerp.models.cache_module.LatentCacheModule` writes the latent cache, `fit` with the
SAE-training module trains an SAE. The datamodule is always `TokenizedTextDataModule`, and its
tokenizer is the subject model's (`model.init_args.model` is linked to `data.tokenizer`).
Outputs: `<results_dir>/<name>/` (`--results_dir`, `--name`), TensorBoard under `lightning_logs/<name>/`, MLflow at
`$MLFLOW_TRACKING_URI` or `sqlite:///mlflow.db`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback

from autointerp.cli.common import RESULTS_DIR, use_attribute_docstrings
from autointerp.data.module import TokenizedTextDataModule
from autointerp.pipeline.config import InterpretConfig
from autointerp.pipeline.outputs import RunPaths, write_run_config

if TYPE_CHECKING:
    from autointerp.latents.manifest import Manifest

logger = logging.getLogger(__name__)

EXPERIMENT = "autointerp"


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
        """`--name`, `--results_dir`, `--flush_tokens`, `--interpret`, and the subject model -> tokenizer link."""
        parser.add_argument("--name", type=str, default="default", help="Run name: outputs go to <results_dir>/<name>/.")
        parser.add_argument("--results_dir", type=str, default=RESULTS_DIR, help="Folder holding the runs.")
        parser.add_argument(
            "--flush_tokens", type=int, default=2**17,
            help="predict: write a shard every this many tokens per rank (bounds the writer's memory).",
        )
        parser.link_arguments("model", "data.tokenizer", compute_fn=_subject_model, apply_on="parse")
        parser.add_argument(
            "--interpret", type=InterpretConfig | None, default=None,
            help="predict: explain and score the cached latents afterwards, on rank 0 (the shipped configs all have "
            "this section; `--interpret false` stops after the cache). See `autointerp interpret --help` for each field.",
        )

    def section(self, config: Any) -> Any:
        """This subcommand's part of a parsed or instantiated config."""
        return config[self.subcommand] if self.subcommand else config

    @property
    def paths(self) -> RunPaths:
        """The run folder, `<results_dir>/<name>`."""
        config = self.section(self.config)
        return RunPaths.for_run(config.results_dir, config.name)

    def interpret_config(self) -> InterpretConfig | None:
        """The instantiated interpret section, or None when absent or switched off."""
        config = self.section(self.config_init).get("interpret")
        return config if config is not None and config.enabled else None

    def resolved_config(self) -> dict[str, Any]:
        """The full resolved config of this invocation, as plain JSON-ready data."""
        import json

        dumped = json.loads(self.parser.dump(self.config, format="json", skip_none=False, skip_check=True))
        return dumped[self.subcommand] if self.subcommand else dumped

    def before_instantiate_classes(self) -> None:
        """Check `--name` before anything heavy loads; move the deprecated `data.filter_bos` to the model."""
        config = self.section(self.config)
        RunPaths.for_run(config.results_dir, config.name)
        move_data_filter_bos(config)

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """Default loggers when none are configured; the shard writer and statistics on `predict`."""
        config = self.section(self.config_init).get("trainer") or {}
        if config.get("logger") in (None, True):
            kwargs["logger"] = default_loggers(self.paths.name, self.section(self.config_init).get("interpret"))
        if self.subcommand == "predict":
            kwargs["callbacks"] = [*_as_list(config.get("callbacks")), *self.predict_callbacks()]
        return super().instantiate_trainer(**kwargs)

    def predict_callbacks(self) -> list[Any]:
        """The latent cache writer (`<run>/latents`), the statistics logger, and the interpret stage when asked for."""
        from callbacks.latent_statistics import LatentStatistics
        from callbacks.shard_writer import LatentShardWriter

        flush_tokens = self.section(self.config).flush_tokens
        callbacks = [LatentShardWriter(str(self.paths.latents), flush_tokens=flush_tokens), LatentStatistics()]
        config = self.interpret_config()
        if config is not None:
            from callbacks.interpret import InterpretAfterPredict

            callbacks.append(InterpretAfterPredict(str(self.paths.root), config, self.resolved_config()))
        return callbacks

    def predict(self, model: LightningModule, datamodule: Any = None, ckpt_path: str | None = None, **_: Any) -> None:
        """Run the predict loop without keeping predictions: the writer streams them to disk.

        A finished cache of the same model, sparse model and hookpoints is reused (the interpret
        stage then runs on it) unless `--interpret.overwrite` names `cache`."""
        if self.trainer.is_global_zero:  # every predict run leaves its resolved config, interpreted or not
            write_run_config(self.paths, self.resolved_config())
        if self.reuse_cache(model):
            return
        self.trainer.predict(model, datamodule=datamodule, return_predictions=False, ckpt_path=ckpt_path)
        # issue 19: the interpret stage runs here, after predict returned, on global rank 0 only and
        # without the process group (not inside a Lightning hook, where NCCL and torchrun's env live on)
        from callbacks.interpret import run_interpret_callbacks

        run_interpret_callbacks(self.trainer)

    def reuse_cache(self, model: Any) -> bool:
        """Interpret an existing cache instead of predicting again, when it matches; True when it did."""
        config = self.interpret_config()
        if config is None or "cache" in config.overwrite:
            return False
        from autointerp.latents.manifest import MANIFEST, Manifest

        paths = self.paths
        if not (paths.latents / MANIFEST).is_file():
            return False
        manifest = Manifest.read(paths.latents)
        wanted = {"model": model.model_name, "sparse_model": model.sparse_model, "hookpoints": list(model.hookpoints)}
        found = {k: getattr(manifest, k) for k in wanted}
        if found != wanted:
            raise ValueError(
                f"{paths.latents} holds a cache of {found}, not {wanted}: use another --name, or add "
                "--interpret.overwrite [cache] to replace it"
            )
        stale = cache_mismatch(manifest, getattr(self, "datamodule", None))
        if stale:
            raise ValueError(
                f"{paths.latents} was made with other data settings ({stale}): use another --name, or add "
                "--interpret.overwrite [cache] to replace it (its explanations and scores are then redone too)"
            )
        logger.info("%s already holds this cache: interpreting it (overwrite=[cache] remakes it)", paths.latents)
        if self.trainer.is_global_zero:
            from autointerp.pipeline.run import interpret

            self.interpret_summary = interpret(paths.root, config, self.resolved_config())
        return True

    def after_predict(self) -> None:
        """Print the interpret stage's results table (rank 0, when it ran in this process)."""
        summaries = [getattr(self, "interpret_summary", None)]
        summaries += [getattr(cb, "summary", None) for cb in self.trainer.callbacks if type(cb).__name__ == "InterpretAfterPredict"]
        summary = next((s for s in summaries if s is not None), None)
        if summary is None:
            return
        from autointerp.pipeline.summary import results_table

        print(results_table(summary))
        print(f"results in {self.paths.root}/ (report: {self.paths.root / 'report.html'})")


def move_data_filter_bos(config: Any) -> None:
    """`data.filter_bos` (the old spelling) becomes `model.init_args.filter_bos`, with a warning."""
    value = config.data.get("filter_bos") if hasattr(config.data, "get") else None
    if value is None:
        return
    init_args = config.model.get("init_args") if hasattr(config.model, "get") else None
    if init_args is None or "filter_bos" not in init_args:
        raise ValueError("data.filter_bos: moved to model.init_args.filter_bos, which this model does not take")
    logger.warning("data.filter_bos is deprecated: set model.init_args.filter_bos (the cache module drops BOS "
                   "positions); using filter_bos=%s", bool(init_args.filter_bos or value))
    init_args.filter_bos = bool(init_args.filter_bos or value)
    config.data.filter_bos = None


def cache_mismatch(manifest: Manifest, datamodule: Any) -> str:
    """The data settings (dataset, split, n_tokens, seed, cache_ctx_len) in which the datamodule differs
    from what made the cache, as `setting: cached -> now` text; empty when they agree."""
    if datamodule is None:
        return ""
    cached = dict(manifest.dataset or {})
    cached["cache_ctx_len"] = manifest.ctx_len
    diffs = [f"{key}: {value!r} -> {getattr(datamodule, key)!r}" for key, value in cached.items()
             if hasattr(datamodule, key) and getattr(datamodule, key) != value]
    return "; ".join(diffs)


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


def run_config(config: dict[str, Any]) -> int:
    """Run `autointerp predict` on a config dict (the flat command's route into the YAML route).

    The dict travels as a config string on sys.argv, so a DDP relaunch of this command line sees the same config."""
    import json
    import sys

    from autointerp.cli.common import reporting_failures

    sys.argv[1:] = ["predict", "--config", json.dumps(config)]
    return reporting_failures(lambda: run(None))
