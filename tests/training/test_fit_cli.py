"""`autointerp fit` with configs like configs/train-sae.yaml: the CLI trains, logs and saves an SAE."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import torch
import yaml
from cli_helpers import REPO, make_run_folder, run_cli

from autointerp.models.sparse_coders import load_sparse_coders


def test_fit_command_trains_logs_to_mlflow_and_tensorboard_and_saves(tmp_path):
    root = make_run_folder(tmp_path, n_docs=40)
    config = yaml.safe_load((REPO / "configs" / "train-sae.yaml").read_text())
    config["name"] = "fit-tiny"
    config["model"]["init_args"].update(
        model=str(root / "model"), hookpoint="layers.2", k=4, expansion_factor=4, aux_k=8, buffer_size=256, sae_batch_size=64,
        save_dir=str(root / "trained"), save_dtype="float16", activation_cache_dir=str(root / "acts"),
        model_dtype=None, lr=0.003)
    config["data"].update(dataset_repo=str(root / "text.jsonl"), dataset_split="train",
                          dataset_column="body", cache_ctx_len=16, n_tokens=512, batch_size=4)
    config["trainer"].update(max_epochs=2, log_every_n_steps=1, enable_progress_bar=False)
    (root / "fit.yaml").write_text(yaml.safe_dump(config))

    run_cli(root, "fit", "--config", "fit.yaml")

    coders = load_sparse_coders(str(root / "trained"), ["layers.2"], device="cpu", dtype=torch.float32)
    assert coders["layers.2"].k == 4 and coders["layers.2"].d_sae == 4 * 32
    with sqlite3.connect(root / "mlflow.db") as db:
        keys = {key for (key,) in db.execute("select distinct key from metrics")}
    assert {"train/loss", "train/fvu", "train/l0", "train/dead_fraction"} <= keys
    assert list(Path(root, "lightning_logs", "fit-tiny").rglob("events.out.tfevents.*"))
