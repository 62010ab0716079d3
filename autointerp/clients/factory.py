"""`make_client`: the spec's `--explainer_provider` strings mapped to a client's constructor.

YAML users pick a `Client` subclass by `class_path` instead; this documented mapping serves the
flat command line (`--explainer_provider openrouter --explainer_model ...`).
"""

from __future__ import annotations

from typing import Any

from autointerp.clients.accounting import Accounting
from autointerp.clients.base import Client

PROVIDERS = ("offline", "openrouter", "openai", "vllm", "llamacpp")


def make_client(
    provider: str,
    model: str,
    base_url: str | list[str] | None = None,
    *,
    max_concurrency: int = 32,
    max_model_len: int | None = None,
    cache: bool = True,
    cache_path: str | None = None,
    accounting: Accounting | None = None,
    **kwargs: Any,
) -> Client:
    """Build the client for `provider`:
    offline -> OfflineClient(model) in-process (transformers; vLLM with backend="vllm");
    openrouter -> OpenRouter(model), key from OPENROUTER_API_KEY;
    openai -> OpenAICompatibleClient at OpenAI (or base_url), key from OPENAI_API_KEY;
    vllm -> a vLLM server at base_url (key from VLLM_API_KEY when it wants one);
    llamacpp -> a llama-cpp-python server at base_url (JSON schemas sent in its json_object form,
    repeat_penalty 1.0 so temperature 0 is greedy).
    max_concurrency bounds HTTP clients; max_model_len (`--explainer_model_max_len`) bounds the offline
    model's context (a server decides its own). Extra keyword arguments go to the client's constructor."""
    common: dict[str, Any] = dict(cache=cache, cache_path=cache_path, accounting=accounting, **kwargs)
    if provider not in PROVIDERS:
        raise ValueError(f"--explainer_provider must be one of {', '.join(PROVIDERS)}; got {provider!r}")
    if provider == "offline":
        from autointerp.clients.offline import OfflineClient

        if base_url is not None:
            raise ValueError("--explainer_base_url makes no sense with --explainer_provider offline")
        return OfflineClient(model, max_model_len=max_model_len, **common)
    from autointerp.clients.openai_compatible import OpenAICompatibleClient, OpenRouter

    common["max_concurrency"] = max_concurrency
    if provider == "openrouter":
        return OpenRouter(model, **({"base_url": base_url} if base_url else {}), **common)
    if provider == "openai":
        return OpenAICompatibleClient(model, base_url, api_key_env="OPENAI_API_KEY", **common)
    if base_url is None:
        raise ValueError(f"--explainer_provider {provider} needs --explainer_base_url (e.g. http://127.0.0.1:8000/v1)")
    if provider == "vllm":
        return OpenAICompatibleClient(model, base_url, api_key_env="VLLM_API_KEY", **common)
    common.setdefault("json_schema_as", "json_object")
    # llama-cpp-python's server applies repeat_penalty 1.1 unless told otherwise, so temperature 0
    # would not be greedy (a repeated verdict gets penalized); 1.0 turns the penalty off
    common["extra_body"] = {"repeat_penalty": 1.0, **(common.get("extra_body") or {})}
    return OpenAICompatibleClient(model, base_url, api_key_env="LLAMACPP_API_KEY", **common)
