"""`autointerp predict` end to end on tiny local assets: cache, overrides, loggers, cheap --help."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from cache_helpers import assert_same_nonzeros, cached_nonzeros, reference_nonzeros
from cli_helpers import REPO, make_run_folder, run_cli
from safetensors.torch import load_file

from autointerp.latents import CacheReader


@pytest.fixture(scope="module")
def predicted(tmp_path_factory):
    """One CLI predict run with --name, --data.n_tokens and --model.hookpoints overrides."""
    root = make_run_folder(tmp_path_factory.mktemp("cli"))
    run_cli(root, "predict", "--config", "predict.yaml", "--name", "t1", "--data.n_tokens", "800",
            "--model.hookpoints", "[layers.2]", "--flush_tokens", "256")
    return root


def test_predict_writes_the_cache_the_overrides_ask_for(predicted):
    reader = CacheReader(predicted / "results" / "t1" / "latents")
    m = reader.manifest
    assert m.hookpoints == ["layers.2"] and m.n_tokens == 800 and m.n_rows == 50 and m.ctx_len == 16
    assert len(m.per_hookpoint["layers.2"].shards) == 4  # 800 tokens flushed every 256 (batches of 64)
    assert m.dataset["dataset_column"] == "body" and m.dataset["n_tokens"] == 800
    weights = {"layers.2": load_file(str(predicted / "sae" / "layers.2" / "sae.safetensors"))}
    tokens = torch.from_numpy(reader.tokens).long()
    want = reference_nonzeros(predicted / "model", weights, tokens, torch.arange(50), batch_size=4)
    assert_same_nonzeros(cached_nonzeros(reader, "layers.2"), want["layers.2"])
    assert not (predicted / "results" / "t1" / "latents" / "layers.1").exists()


def _independent_statistics(reader) -> dict[str, float]:
    """tokens, alive fraction and mean L0 from the shards' offsets."""
    nnz = np.zeros(reader.d_sae("layers.2"), dtype=np.int64)
    for path in reader.shard_paths("layers.2"):
        nnz += np.diff(reader.offsets(path))
    return {"cache/tokens": 800.0, "cache/layers.2/alive_fraction": float((nnz > 0).mean()),
            "cache/layers.2/mean_l0": nnz.sum() / 800}


def test_statistics_reach_mlflow_and_tensorboard(predicted):
    from mlflow import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    want = _independent_statistics(CacheReader(predicted / "results" / "t1" / "latents"))
    client = MlflowClient(tracking_uri=f"sqlite:///{predicted / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("autointerp")
    (run,) = client.search_runs([experiment.experiment_id], filter_string="tags.mlflow.runName = 't1'")
    for key, value in want.items():
        assert run.data.metrics[key] == pytest.approx(value)
    artifacts = [a.path for a in client.list_artifacts(run.info.run_id)]
    assert "config.yaml" in artifacts

    (version,) = (predicted / "lightning_logs" / "t1").iterdir()
    events = EventAccumulator(str(version))
    events.Reload()
    for key, value in want.items():
        assert events.Scalars(key)[-1].value == pytest.approx(value, rel=1e-6)
    assert (version / "config.yaml").is_file()


def test_help_does_not_import_lightning():
    code = "import sys; from autointerp.cli import main; main(['--help']); print('LOADED', 'lightning' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "predict" in out and "LOADED False" in out


def test_bad_name_fails_before_loading(predicted, monkeypatch):
    from autointerp.cli.predict import AutoInterpCLI

    monkeypatch.chdir(predicted)
    with pytest.raises(ValueError, match="name: 'a/b' must be a plain folder name"):
        AutoInterpCLI(args=["predict", "--config", "predict.yaml", "--name", "a/b"])


def test_filter_bos_belongs_to_the_model_and_the_old_data_spelling_moves_there(predicted, monkeypatch, caplog):
    from autointerp.cli.predict import AutoInterpCLI

    monkeypatch.chdir(predicted)
    cli = AutoInterpCLI(args=["--config", "predict.yaml", "--model.filter_bos", "true", "--trainer.logger", "false"], run=False)
    assert cli.model.filter_bos is True and not hasattr(cli.datamodule, "filter_bos")
    assert cli.datamodule.tokenizer_name == str(predicted / "model")  # the tokenizer is the subject model's
    assert "deprecated" not in caplog.text
    cli = AutoInterpCLI(args=["--config", "predict.yaml", "--data.filter_bos", "true", "--trainer.logger", "false"], run=False)
    assert cli.model.filter_bos is True
    assert "data.filter_bos is deprecated: set model.init_args.filter_bos" in caplog.text


def test_the_data_module_refuses_filter_bos_naming_its_owner():
    from autointerp.data.module import TokenizedTextDataModule

    with pytest.raises(ValueError, match=r"filter_bos: moved to the cache module.*model.init_args.filter_bos"):
        TokenizedTextDataModule("embedded:SmolLM2-135M-Instruct", filter_bos=True)


def test_predict_honours_the_interpret_tracking_settings_and_writes_run_config(predicted):
    """`--interpret false` still leaves run_config.json; the MLflow run goes where `interpret:` says,
    not to $MLFLOW_TRACKING_URI, in the named experiment, which opens on the runs table."""
    import json

    from mlflow import MlflowClient

    custom = predicted / "custom.db"
    run_cli(predicted, "predict", "--config", "predict.yaml", "--name", "t2", "--data.n_tokens", "256",
            "--interpret", "false", "--interpret.tracking_uri", f"sqlite:///{custom}", "--interpret.experiment", "mine")
    config = json.loads((predicted / "results" / "t2" / "run_config.json").read_text())
    assert config["name"] == "t2" and config["interpret"]["enabled"] is False
    assert config["data"]["n_tokens"] == 256
    experiment = MlflowClient(tracking_uri=f"sqlite:///{custom}").get_experiment_by_name("mine")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    (run,) = MlflowClient(tracking_uri=f"sqlite:///{custom}").search_runs([experiment.experiment_id])
    assert run.data.metrics["cache/tokens"] == 256
    default = MlflowClient(tracking_uri=f"sqlite:///{predicted / 'mlflow.db'}")
    assert default.search_runs([default.get_experiment_by_name("autointerp").experiment_id],
                               filter_string="tags.mlflow.runName = 't2'") == []


def test_mlflow_false_leaves_only_tensorboard():
    from autointerp.cli.predict import default_loggers
    from autointerp.pipeline.config import InterpretConfig

    assert [type(lg).__name__ for lg in default_loggers("x", InterpretConfig(mlflow=False))] == ["TensorBoardLogger"]
    names = [type(lg).__name__ for lg in default_loggers("x", InterpretConfig(tracking_uri="sqlite:///elsewhere.db"))]
    assert names == ["TensorBoardLogger", "MLFlowLogger"]
    assert default_loggers("x", InterpretConfig(tracking_uri="sqlite:///elsewhere.db"))[1]._tracking_uri == "sqlite:///elsewhere.db"
