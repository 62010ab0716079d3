"""No API key or token reaches disk: the config writer drops secret-looking keys, clients never print
theirs, and a whole interpret run with planted keys in the environment leaves none in results or MLflow.
(The full predict + interpret route is checked the same way in test_end_to_end.py.)"""

from __future__ import annotations

import json

from autointerp.examples.config import ExamplesConfig
from autointerp.pipeline.config import InterpretConfig
from autointerp.pipeline.outputs import RunPaths, redact, write_run_config
from autointerp.pipeline.run import Parts, interpret
from run_helpers import files_containing

PLANTED = "sk-planted-secret-4e1d"


def test_redact_drops_secret_keys_at_any_depth_and_keeps_counts():
    config = {
        "hf_token": PLANTED, "n_tokens": 100,
        "interpret": {"api_key": PLANTED, "OPENAI_API_KEY": PLANTED, "max_tokens": 5,
                      "extra": [{"Authorization": PLANTED, "password": PLANTED, "keep": 1}]},
    }
    out = redact(config)
    assert PLANTED not in json.dumps(out)
    assert out["n_tokens"] == 100 and out["interpret"]["max_tokens"] == 5 and out["interpret"]["extra"] == [{"keep": 1}]


def test_run_config_never_holds_a_secret(tmp_path):
    write_run_config(RunPaths(tmp_path), {"data": {"hf_token": PLANTED, "n_tokens": 3}})
    assert PLANTED not in (tmp_path / "run_config.json").read_text()


def test_the_client_never_shows_its_key(monkeypatch):
    from autointerp.clients import OpenRouter

    monkeypatch.setenv("OPENROUTER_API_KEY", PLANTED)
    client = OpenRouter("meta-llama/llama-3.1-70b-instruct")
    assert PLANTED not in repr(client) and PLANTED not in str(vars(client))


def test_an_interpret_run_with_planted_keys_leaves_none_behind(tmp_path, monkeypatch):
    from pipeline_fakes import CountingClient, FakeBuilder, FakeExplainer, FakeScorer, make_cache

    for var in ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "HF_TOKEN", "VLLM_API_KEY"):
        monkeypatch.setenv(var, PLANTED)
    monkeypatch.chdir(tmp_path)
    make_cache(tmp_path / "results" / "run")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    config = InterpretConfig(examples=ExamplesConfig(min_examples=1), tracking_uri=uri, report=False)
    parts = Parts(client=CountingClient(), explainer=FakeExplainer(), builder=FakeBuilder(),
                  scorers={"detection": FakeScorer("detection")})
    interpret(tmp_path / "results" / "run", config, {"interpret": config.to_dict(), "hf_token": PLANTED}, parts)
    assert files_containing(tmp_path / "results", PLANTED) == []
    assert files_containing(tmp_path / "mlruns", PLANTED) == []
    assert PLANTED.encode() not in (tmp_path / "mlflow.db").read_bytes()
