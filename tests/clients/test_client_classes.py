"""Client classes chosen by type: their defaults, and keys that never reach a repr or a config dump.

The spec's provider names are mapped to these classes by the flat command (tests/cli/test_cli_flat.py)."""

from __future__ import annotations

import pytest

from autointerp.clients import LlamaCppClient, OpenAICompatibleClient, OpenRouter
from autointerp.clients.openai_compatible import OPENAI_URL, OPENROUTER_URL


def test_openrouter_spec_form_keeps_the_key_out_of_repr_and_vars():
    client = OpenRouter("gpt-3.5-turbo", api_key="sk-or-secret-123")
    assert client.base_urls == [OPENROUTER_URL]
    assert "secret" not in repr(client)
    assert all("secret" not in str(v) for v in vars(client).values())
    assert client._api_key.get_secret_value() == "sk-or-secret-123"


def test_keys_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-env-456")
    assert OpenRouter("m")._api_key.get_secret_value() == "sk-env-456"
    monkeypatch.delenv("OPENROUTER_API_KEY")
    with pytest.raises(ValueError, match="OPENROUTER_API_KEY"):
        OpenRouter("m")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        OpenAICompatibleClient("gpt-4o-mini")


def test_a_config_dump_masks_the_key():
    from jsonargparse import ArgumentParser

    parser = ArgumentParser()
    parser.add_argument("--client", type=OpenRouter)
    cfg = parser.parse_args(["--client.class_path", "autointerp.clients.OpenRouter",
                             "--client.init_args.model", "m", "--client.init_args.api_key", "sk-dump-789"])
    assert "sk-dump-789" not in parser.dump(cfg)
    client = parser.instantiate(cfg).client
    assert client._api_key.get_secret_value() == "sk-dump-789"


def test_llamacpp_and_openai_classes(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    assert OpenAICompatibleClient("m").base_urls == [OPENAI_URL]
    vllm = OpenAICompatibleClient("m", "http://127.0.0.1:8000/v1", max_concurrency=64)
    assert vllm.max_concurrency == 64 and vllm.json_schema_as == "json_schema"
    llama = LlamaCppClient("m", ["http://127.0.0.1:8080/v1", "http://127.0.0.1:8081/v1"])
    assert llama.json_schema_as == "json_object" and len(llama.base_urls) == 2
    assert llama.extra_body == {"repeat_penalty": 1.0}  # llama.cpp's default 1.1 would make temperature 0 non-greedy
    assert LlamaCppClient("m", "http://h:1/v1", extra_body={"repeat_penalty": 1.3, "top_k": 5}).extra_body == {
        "repeat_penalty": 1.3, "top_k": 5}
    assert llama._request([{"role": "user", "content": "x"}], _settings())["response_format"] == {
        "type": "json_object", "schema": {"type": "object"}}
    llama.use_base_url("http://127.0.0.1:9000/v1")
    assert llama.base_urls == ["http://127.0.0.1:9000/v1"]
    with pytest.raises(ValueError, match="base_url"):
        llama.use_base_url("ftp://x")


def test_offline_client_takes_the_context_length_and_picks_its_backend():
    import torch

    from autointerp.clients import OfflineClient

    client = OfflineClient("embedded:SmolLM2-135M-Instruct", max_model_len=1024)
    assert client.max_model_len == 1024 and client._engine is None
    assert client.device == ("cuda" if torch.cuda.is_available() else "cpu")
    assert client.backend in ("transformers", "vllm") and OfflineClient(backend="transformers", device="cpu").device == "cpu"
    with pytest.raises(ValueError, match="backend"):
        OfflineClient(backend="tpu")


def _settings():
    from autointerp.clients.managed import Settings

    fmt = {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}
    return Settings(8, 0.0, False, 0, fmt, 0)
