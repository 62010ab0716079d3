"""Run `python -m autointerp predict` as a subprocess on tiny local assets (model, SAE, jsonl text)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from cache_helpers import WORDS, make_sparsify_sae, make_tiny_model

REPO = Path(__file__).resolve().parent.parent


def make_run_folder(root: Path, n_docs: int = 60) -> Path:
    """root/{model, sae, text.jsonl, predict.yaml}: a complete offline predict setup."""
    make_tiny_model(root / "model")
    for i, hp in enumerate(["layers.1", "layers.2"]):
        make_sparsify_sae(root / "sae", hp, seed=i)
    with open(root / "text.jsonl", "w") as f:
        for d in range(n_docs):
            words = [WORDS[(d * 7 + i * (d % 5 + 1)) % len(WORDS)] for i in range(40 + d % 13)]
            f.write(json.dumps({"body": " ".join(words)}) + "\n")
    config = {
        "name": "tiny",
        "model": {
            "class_path": "autointerp.models.cache_module.LatentCacheModule",
            "init_args": {"model": str(root / "model"), "sparse_model": str(root / "sae"), "hookpoints": ["layers.1", "layers.2"]},
        },
        "data": {
            "dataset_repo": str(root / "text.jsonl"), "dataset_split": "train", "dataset_column": "body",
            "cache_ctx_len": 16, "n_tokens": 1024, "batch_size": 4,
        },
        "trainer": {"accelerator": "cpu", "devices": 1, "enable_progress_bar": False, "enable_model_summary": False},
    }
    (root / "predict.yaml").write_text(yaml.safe_dump(config))
    return root


def run_cli(cwd: Path, *args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    """`python -m autointerp ARGS` in `cwd`, offline, with this repo importable and MLflow in cwd."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "MLFLOW_TRACKING_URI": f"sqlite:///{cwd / 'mlflow.db'}",
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
        "HF_DATASETS_CACHE": str(cwd / "hf-datasets"), "OMP_NUM_THREADS": "1",
    }
    proc = subprocess.run([sys.executable, "-m", "autointerp", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"autointerp {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc
