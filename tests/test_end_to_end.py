"""End to end, offline: `autointerp predict` on the embedded SmolLM2 with a sparse coder caches latents,
then the interpret stage explains and scores them with the same GGUF served by llama.cpp on 127.0.0.1.
Every output file exists, the summary holds each requested scorer, and MLflow holds the same numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cli_helpers import run_cli
from run_helpers import EMBEDDED_MODEL, files_containing

SCORERS = ["detection", "fuzz"]
PLANTED = "sk-planted-e2e-7f3a9c"


SHIPPED_SAE = Path(__file__).resolve().parent.parent / "autointerp" / "assets" / "smollm2-135m-instruct-topk"
"""The TopK SAE shipped in the package (layers.15 of SmolLM2-135M-Instruct): the quickstart's sparse coder."""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One small predict + interpret run through the CLI (ctx 64, 1024 tokens, 2 latents, 2 scorers)."""
    root = tmp_path_factory.mktemp("e2e")
    config = {
        "name": "e2e",
        "model": {"class_path": "autointerp.models.cache_module.LatentCacheModule",
                  "init_args": {"model": EMBEDDED_MODEL, "sparse_model": str(SHIPPED_SAE), "hookpoints": ["layers.15"]}},
        "data": {"dataset_repo": "embedded:gensim", "dataset_split": "train[90%:]", "cache_ctx_len": 64,
                 "n_tokens": 1024, "batch_size": 8},
        "trainer": {"accelerator": "cpu", "devices": 1, "enable_progress_bar": False, "enable_model_summary": False},
        "interpret": {
            "client": {"class_path": "LlamaCppClient", "init_args": {"model": "smollm2"}},
            "serve_gguf": "embedded", "serve_context_length": 1024,
            "explainer": {"class_path": "DefaultExplainer", "init_args": {"context_length": 1024, "structured": True}},
            "scorers": [{"class_path": f"{name.title()}Scorer", "init_args": {"structured": True, "n_examples_per_prompt": 4}}
                        for name in SCORERS],
            "max_latents": 2,
            "examples": {"min_examples": 3, "n_examples_train": 4, "n_examples_test": 2, "n_non_activating": 2,
                         "example_ctx_len": 12},
        },
    }
    (root / "e2e.yaml").write_text(yaml.safe_dump(config))
    # A key the LLM client really sends (llama.cpp ignores it), and the other secrets a user may have set.
    import os

    for var in ("LLAMACPP_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY", "HF_TOKEN"):
        os.environ[var] = PLANTED
    try:
        proc = run_cli(root, "predict", "--config", str(root / "e2e.yaml"), timeout=600)
    finally:
        for var in ("LLAMACPP_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY", "HF_TOKEN"):
            os.environ.pop(var, None)
    return root, root / "results" / "e2e", proc


def test_every_output_file_is_written(run):
    _, run_dir, _ = run
    for name in ("run_config.json", "summary.json", "report.html", "latents/manifest.json", "mlflow_run.json"):
        assert (run_dir / name).is_file(), name
    explanations = sorted((run_dir / "explanations" / "layers.15").glob("*.json"))
    assert len(explanations) == 2
    explained = 0
    for path in explanations:
        data = json.loads(path.read_text())
        assert data["explanation"] is not None or data["error"]  # a 135M explainer may fail a latent: recorded
        example = data["record"]["train"][0]
        assert {"row", "start", "role", "tokens", "str_tokens", "activations", "normalized", "quantile"} <= set(example)
        if data["explanation"] is None:
            continue
        explained += 1
        for scorer in SCORERS:
            score = json.loads((run_dir / "scores" / scorer / "layers.15" / path.name).read_text())
            if score["error"] is None:
                assert score["samples"] and {"row", "start", "role", "activating", "prediction"} <= set(score["samples"][0])
    assert explained >= 1  # structured replies: the embedded model answers in a parseable form
    config = json.loads((run_dir / "run_config.json").read_text())
    assert [s["class_path"] for s in config["interpret"]["scorers"]] == [f"autointerp.scorers.{n.title()}Scorer" for n in SCORERS]
    assert config["model"]["init_args"]["model"] == EMBEDDED_MODEL


def test_summary_holds_each_requested_scorer(run):
    _, run_dir, proc = run
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["scorers"] == SCORERS and set(summary["per_hookpoint"]["layers.15"]) == set(SCORERS)
    assert summary["counts"]["latents"] == 2 and summary["model"] == EMBEDDED_MODEL
    assert summary["usage"]["explain"]["calls"] >= 1 and summary["timing_s"]["predict"] > 0
    assert summary["cache"]["n_tokens"] == 1024
    assert "detection" in proc.stdout and "latents 2: explained" in proc.stdout  # the results table


def test_mlflow_run_matches_the_summary(run):
    import mlflow

    from autointerp.pipeline.tracking import summary_metrics

    root, run_dir, _ = run
    summary = json.loads((run_dir / "summary.json").read_text())
    link = json.loads((run_dir / "mlflow_run.json").read_text())
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("autointerp").experiment_id])
    assert [r.info.run_id for r in runs] == [link["run_id"]]  # predict and interpret share one MLflow run
    logged = runs[0].data.metrics
    expected = summary_metrics(summary)
    assert expected and all(logged[k] == pytest.approx(v) for k, v in expected.items())
    assert any(k.startswith("detection/layers.15/") for k in logged)
    assert runs[0].data.tags["autointerp.scorers"] == ",".join(SCORERS)
    assert "cache/tokens" in logged or any(k.startswith("cache/") for k in logged)  # predict's statistics, same run
    artifacts = {a.path for a in client.list_artifacts(link["run_id"])}
    assert {"summary.json", "run_config.json", "explanations.csv", "report.html"} <= artifacts


def test_no_key_or_token_reaches_results_or_mlflow(run):
    root, _, _ = run
    for where in ("results", "mlruns", "lightning_logs"):
        if (root / where).exists():
            assert files_containing(root / where, PLANTED) == []
    assert PLANTED.encode() not in (root / "mlflow.db").read_bytes()


def test_predict_again_reuses_the_cache_and_asks_nothing_new(run):
    """Runs last: the same command again interprets the existing cache; finished latents are skipped,
    a failed one is retried from the response cache, and nothing goes to the server."""
    root, run_dir, _ = run
    first = json.loads((run_dir / "summary.json").read_text())
    before = first["counts"]
    manifest = (run_dir / "latents" / "manifest.json").stat().st_mtime_ns
    proc = run_cli(root, "predict", "--config", str(root / "e2e.yaml"), timeout=300)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (run_dir / "latents" / "manifest.json").stat().st_mtime_ns == manifest
    assert summary["invocation"]["resumed"] == before["explained"] and summary["counts"] == before
    assert summary["invocation"]["usage_total"]["calls"] == 0
    # the work's own timing and cost are kept; the rerun's own are reported apart
    assert summary["usage_total"]["calls"] == first["usage_total"]["calls"] > 0
    assert summary["timing_s"]["predict"] == first["timing_s"]["predict"]
    assert summary["timing_s"]["interpret"] == pytest.approx(first["timing_s"]["interpret"] + summary["invocation"]["timing_s"]["interpret"])
    assert "latents 2: explained" in proc.stdout
