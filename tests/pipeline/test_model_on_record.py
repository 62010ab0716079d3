"""The model on record is the model that answered: with `serve_gguf` left at the default explainer
name, the served file's name and SHA-256 (summary, MLflow tags, logs); over HTTP, the model the
server's replies name. Real parts: a real token cache, the real RecordBuilder, explainer and scorer,
llama_cpp.server (or the scripted server as the control whose replies name another model), MLflow sqlite."""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from pathlib import Path

import pytest

from autointerp.examples.config import ExamplesConfig
from autointerp.pipeline.config import InterpretConfig
from autointerp.pipeline.run import interpret
from autointerp.pipeline.served import SPEC_DEFAULT_EXPLAINER_MODEL as DEFAULT_EXPLAINER_MODEL
from run_helpers import EMBEDDED_MODEL, make_token_cache, text_tokens

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "clients"))
from fault_server import FaultServer  # noqa: E402

HP = "layers.15"


def _run(tmp_path: Path, name: str) -> Path:
    from autointerp.models.subject import load_tokenizer
    from autointerp.pipeline.tokenizer import save_tokenizer

    tokenizer = load_tokenizer(EMBEDDED_MODEL)
    run_dir = tmp_path / "results" / name
    make_token_cache(run_dir, text_tokens(tokenizer, 24, 32), d_sae=4, hookpoint=HP)
    save_tokenizer(tokenizer, run_dir / "tokenizer")
    return run_dir


def _config(tmp_path: Path, model: str, base_url: str | None = None, **settings) -> InterpretConfig:
    from autointerp.clients import LlamaCppClient
    from autointerp.explainers import DefaultExplainer
    from autointerp.scorers import DetectionScorer

    client = LlamaCppClient(model, base_url) if base_url else LlamaCppClient(model)
    return InterpretConfig(
        client=client, explainer=DefaultExplainer(structured=True, context_length=1024),
        scorers=[DetectionScorer(n_examples_per_prompt=4, structured=True)], max_latents=1,
        serve_context_length=1024, output_tokens=False, report=False, tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
        examples=ExamplesConfig(min_examples=2, n_examples_train=3, n_examples_test=2, n_non_activating=2, example_ctx_len=10),
        **settings,
    )


def _mlflow_tags(run_dir: Path, uri: str) -> dict[str, str]:
    import mlflow

    run_id = json.loads((run_dir / "mlflow_run.json").read_text())["run_id"]
    return mlflow.MlflowClient(tracking_uri=uri).get_run(run_id).data.tags


def test_served_gguf_is_the_model_on_record(tmp_path, caplog):
    from autointerp.clients.llamacpp_server import embedded_gguf_path

    gguf = embedded_gguf_path()
    digest = hashlib.sha256(gguf.read_bytes()).hexdigest()  # computed here, independently of the stage
    run_dir = _run(tmp_path, "served")
    config = _config(tmp_path, DEFAULT_EXPLAINER_MODEL, serve_gguf="embedded")  # the flat flag's default: no model named
    with caplog.at_level(logging.INFO, logger="autointerp"):
        summary = interpret(run_dir, config)
    assert summary["usage_total"]["calls"] >= 1  # the served model really answered
    assert summary["explainer_model"] == gguf.name and summary["explainer_model_sha256"] == digest
    on_disk = json.loads((run_dir / "summary.json").read_text())
    assert (on_disk["explainer_model"], on_disk["explainer_model_sha256"]) == (gguf.name, digest)
    tags = _mlflow_tags(run_dir, config.tracking_uri)
    assert tags["autointerp.explainer_model"] == gguf.name and tags["autointerp.explainer_model_sha256"] == digest
    messages = [r.getMessage() for r in caplog.records]
    assert any(gguf.name in m and "interpreting" in m for m in messages)
    # the server's own account, from its log in the run folder: one entry per request it answered
    work = summary["llm_server"]
    assert (run_dir / "llamacpp.log").is_file() and work["requests"] == summary["usage_total"]["calls"]
    assert 0 < work["prompt_tokens_evaluated"] <= summary["usage_total"]["prompt_tokens"]
    assert not [m for m in messages if DEFAULT_EXPLAINER_MODEL in m]


def test_http_server_reply_names_the_model_on_record(tmp_path, caplog):
    server = FaultServer()
    server.start()
    server.reported_model = "provider/answering-model-2026"
    try:
        run_dir = _run(tmp_path, "http")
        # the scripted server echoes the prompt, which is no explanation: the failed latent is recorded, not fatal
        config = _config(tmp_path, "requested-model", server.url, max_failure_fraction=1.0)
        with caplog.at_level(logging.INFO, logger="autointerp"):
            summary = interpret(run_dir, config)
    finally:
        server.stop()
    assert server.requests >= 1 and {b["model"] for b in server.bodies} == {"requested-model"}
    assert summary["explainer_model"] == "provider/answering-model-2026"
    assert summary["explainer_model_requested"] == "requested-model"
    tags = _mlflow_tags(run_dir, config.tracking_uri)
    assert tags["autointerp.explainer_model"] == "provider/answering-model-2026"
    assert tags["autointerp.explainer_model_requested"] == "requested-model"
    assert any("provider/answering-model-2026" in r.getMessage() for r in caplog.records)
