"""A run killed with SIGKILL mid-interpret, then restarted, finishes without redoing or re-requesting
finished latents, and its results equal an uninterrupted run's. Real LLM: llama_cpp.server on 127.0.0.1."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from run_helpers import EMBEDDED_MODEL, make_token_cache, result_files, text_tokens, write_detection_config

N_LATENTS = 4
HP = "layers.15"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The embedded SmolLM2 GGUF served by llama_cpp.server, once for this module."""
    from autointerp.clients.llamacpp_server import LlamaCppServer, embedded_gguf_path

    with LlamaCppServer(embedded_gguf_path(), model="smollm2", n_threads=1, n_ctx=2048,
                        log_path=tmp_path_factory.mktemp("llamacpp") / "server.log") as s:
        yield s


def write_config(path: Path, base_url: str) -> Path:
    """The interpret section of a run config, pointed at the module's server."""
    return write_detection_config(path, {"model": "smollm2", "base_url": base_url})


def make_runs(results: Path, names: list[str]) -> None:
    """Identical caches of real text (latent j fires on token ids = j mod N_LATENTS), tokenizer saved beside."""
    from autointerp.models.subject import load_tokenizer
    from autointerp.pipeline.tokenizer import save_tokenizer

    tokenizer = load_tokenizer(EMBEDDED_MODEL)
    tokens = text_tokens(tokenizer, 24, 32)
    for name in names:
        make_token_cache(results / name, tokens, d_sae=N_LATENTS, hookpoint=HP)
        save_tokenizer(tokenizer, results / name / "tokenizer")


def finished(run_dir: Path) -> dict[str, int]:
    """{score file: mtime_ns} of latents whose explanation and score are both on disk."""
    out = {}
    for score in (run_dir / "scores" / "detection" / HP).glob("*.json"):
        if (run_dir / "explanations" / HP / score.name).is_file():
            out[score.name] = score.stat().st_mtime_ns
    return out


def interpret_command(config: Path, results: Path, name: str) -> list[str]:
    return [sys.executable, "-m", "autointerp", "interpret", "--config", str(config), "--name", name,
            "--results_dir", str(results)]


def kill_once_some_latents_are_done(command: list[str], run_dir: Path, at_least: int = 1) -> None:
    """Start the run, poll its output folder, SIGKILL it once `at_least` latents are finished."""
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ | {"PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 240
    while len(finished(run_dir)) < at_least:
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
        assert time.monotonic() < deadline, "no latent finished in 240 s"
        time.sleep(0.05)  # polling the folder, not waiting for a guess
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()


def calls_per_latent(run_dir: Path) -> dict[str, int]:
    """LLM requests each latent of a finished run needed: its explanation, plus (when it has one)
    one detection prompt per 4 examples. A 135M explainer may fail a latent: that one asked once."""
    out = {}
    for path in (run_dir / "explanations" / HP).glob("*.json"):
        score = run_dir / "scores" / "detection" / HP / path.name
        prompts = math.ceil(len(json.loads(score.read_text())["samples"]) / 4) if score.is_file() else 0
        out[path.name] = 1 + prompts
    return out


def test_killed_run_resumes_without_redoing_finished_latents(server, tmp_path):
    from autointerp.cli.interpret import interpret_main

    results = tmp_path / "results"
    make_runs(results, ["killed", "whole"])
    config = write_config(tmp_path / "config.yaml", server.base_url)

    assert interpret_main(interpret_command(config, results, "whole")[4:]) == 0
    whole = json.loads((results / "whole" / "summary.json").read_text())
    needed = calls_per_latent(results / "whole")
    assert len(needed) == N_LATENTS and whole["usage_total"]["calls"] == sum(needed.values())
    assert whole["counts"]["explained"] >= 1

    kill_once_some_latents_are_done(interpret_command(config, results, "killed"), results / "killed")
    done_before = finished(results / "killed")
    assert 1 <= len(done_before) < N_LATENTS

    assert interpret_main(interpret_command(config, results, "killed")[4:]) == 0
    resumed = json.loads((results / "killed" / "summary.json").read_text())
    assert resumed["invocation"]["resumed"] == len(done_before)
    assert resumed["invocation"]["attempted"] == N_LATENTS - len(done_before)
    # Finished latents were neither rewritten nor asked again (not even from the response cache).
    assert {k: v for k, v in finished(results / "killed").items() if k in done_before} == done_before
    total = resumed["usage_total"]
    assert total["calls"] + total["cached_calls"] == sum(n for name, n in needed.items() if name not in done_before)
    # And the results are those of the uninterrupted run.
    assert result_files(results / "killed") == result_files(results / "whole")
    assert resumed["per_hookpoint"] == whole["per_hookpoint"]
