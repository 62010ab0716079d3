"""LLM clients: OpenAI-compatible HTTP and offline in-process backends."""

from autointerp.clients.base import Client, LLMError, Response, TokenLogprob

__all__ = ["Client", "LLMError", "Response", "TokenLogprob"]
