"""LLM clients: OpenAI-compatible HTTP and offline in-process backends.

The HTTP and offline clients load lazily (`from autointerp.clients import OpenRouter` imports
aiohttp only then), so importing `autointerp.clients` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from autointerp.clients.accounting import Accounting, usage_stage
from autointerp.clients.base import Client, LLMError, Response, TokenLogprob
from autointerp.clients.retry import LLMRequestError, LLMRetryError, RetryPolicy

_LAZY = {
    "OpenAICompatibleClient": "autointerp.clients.openai_compatible",
    "OpenRouter": "autointerp.clients.openai_compatible",
    "LlamaCppClient": "autointerp.clients.openai_compatible",
    "OfflineClient": "autointerp.clients.offline",
    "ManagedClient": "autointerp.clients.managed",
    "ResponseCache": "autointerp.clients.response_cache",
    "LlamaCppServer": "autointerp.clients.llamacpp_server",
    "embedded_gguf_path": "autointerp.clients.llamacpp_server",
}

__all__ = [
    "Accounting", "Client", "LLMError", "LLMRequestError", "LLMRetryError", "Response", "RetryPolicy",
    "TokenLogprob", "usage_stage", *_LAZY,
]


def __getattr__(name: str) -> Any:
    """Import the heavier clients on first use."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'autointerp.clients' has no attribute {name!r}")
