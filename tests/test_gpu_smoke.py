"""benchmarks/gpu_smoke.py in its dry mode (tiny shapes, CPU): every section runs and reports sane figures,
so the GPU check a lent device runs in one call cannot rot unnoticed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "benchmarks" / "gpu_smoke.py"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=400)


def test_dry_run_covers_every_section(tmp_path):
    proc = run("--dry", "--out", str(tmp_path / "smoke.json"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r = json.loads((tmp_path / "smoke.json").read_text())
    sections = ("predict", "agreement", "release", "two_nodes", "throughput", "offline")
    assert {name: r[name]["ok"] for name in sections} == dict.fromkeys(sections, True)
    assert r["device"] == "cpu" and r["dry"] is True
    assert r["predict"]["batches_checked"] == 3 and r["predict"]["nnz"] > 0
    fp32 = r["agreement"]["fp32"]
    assert fp32["shared_fraction"] == 1.0 and fp32["max_abs_diff"] == 0.0 and fp32["pairs"] > 0  # CPU against CPU
    assert 0.5 < r["agreement"]["bf16"]["shared_fraction"] <= 1.0  # bfloat16 on a CPU: close, not identical
    assert r["release"]["parameters_left"] == 0
    assert [(x["node_rank"], x["local_rank"], x["global_rank"]) for x in r["two_nodes"]["ranks"]] == [(0, 0, 0), (1, 0, 1)]
    assert r["two_nodes"]["n_rows"] == 10
    t = r["throughput"]
    assert t["tokens"] == 4 * 3 * 32 and t["ratio_with_over_without"] == pytest.approx(
        t["tokens_per_s_with_writer"] / t["tokens_per_s_without_writer"])
    assert r["offline"]["dtype"] == "torch.float32" and r["offline"]["generated_tokens"] > 0


def test_without_a_gpu_the_real_run_says_to_use_dry(tmp_path):
    proc = run("--out", str(tmp_path / "smoke.json"), cwd=tmp_path)
    assert proc.returncode == 2 and "no CUDA device: use --dry" in proc.stderr
