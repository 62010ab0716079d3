"""A managed llama.cpp server killed mid-run: the stage stops within seconds, says how the server died,
and keeps every finished latent's files intact. Real LLM: the embedded SmolLM2 served by the stage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from run_helpers import EMBEDDED_MODEL, make_token_cache, text_tokens, write_detection_config

HP = "layers.15"
N_LATENTS = 8


def make_run(run_dir: Path) -> None:
    from autointerp.models.subject import load_tokenizer
    from autointerp.pipeline.tokenizer import save_tokenizer

    tokenizer = load_tokenizer(EMBEDDED_MODEL)
    make_token_cache(run_dir, text_tokens(tokenizer, 24, 32), d_sae=N_LATENTS, hookpoint=HP)
    save_tokenizer(tokenizer, run_dir / "tokenizer")


def write_config(path: Path) -> Path:
    """A run that serves the embedded GGUF itself (the server this test kills)."""
    return write_detection_config(path, {"model": "smollm2"}, serve_gguf="embedded", serve_context_length=2048)


def finished(run_dir: Path) -> dict[str, bytes]:
    """{latent file name: explanation + score bytes} of latents with both files on disk."""
    out = {}
    for score in (run_dir / "scores" / "detection" / HP).glob("*.json"):
        explanation = run_dir / "explanations" / HP / score.name
        if explanation.is_file():
            out[score.name] = explanation.read_bytes() + score.read_bytes()
    return out


def served_by(proc: subprocess.Popen) -> psutil.Process | None:
    """The llama_cpp.server child of the run, once it exists."""
    for child in psutil.Process(proc.pid).children(recursive=True):
        if "llama_cpp.server" in " ".join(child.cmdline()):
            return child
    return None


def test_run_stops_within_seconds_when_its_server_is_killed(tmp_path):
    results = tmp_path / "results"
    make_run(results / "run")
    command = [sys.executable, "-m", "autointerp", "interpret", "--config", str(write_config(tmp_path / "c.yaml")),
               "--name", "run", "--results_dir", str(results)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ | {"PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 300
    while not finished(results / "run"):  # polling the folder for the first finished latent
        assert proc.poll() is None, f"the run ended early: {proc.stderr.read().decode()[-3000:]}"
        assert time.monotonic() < deadline, "no latent finished in 300 s"
        time.sleep(0.05)
    done_before = finished(results / "run")
    server = served_by(proc)
    assert server is not None, "no llama_cpp.server child found"
    server.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    _, stderr = proc.communicate(timeout=60)
    stopped_after = time.monotonic() - killed_at

    stderr = stderr.decode()
    assert proc.returncode == 1, stderr[-3000:]
    assert stopped_after < 30, f"the run took {stopped_after:.1f} s to stop after its server died"
    assert "the llama.cpp server at http://127.0.0.1:" in stderr and "exited with signal 9 (SIGKILL)" in stderr
    assert len(done_before) < N_LATENTS, "every latent finished before the kill: the test proved nothing"
    after = finished(results / "run")
    assert {k: after[k] for k in done_before} == done_before  # finished latents untouched
    for path in (results / "run").glob("*/**/*.json"):  # and every result file on disk is whole JSON
        json.loads(path.read_text())
    summary = json.loads((results / "run" / "summary.json").read_text())
    assert "exited with signal 9 (SIGKILL)" in summary["server_died"]
