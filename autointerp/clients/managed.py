"""`ManagedClient`: the response cache and token accounting every concrete client shares.

Subclasses implement only `_complete(messages, settings)`; `generate` validates the settings,
answers from the cache when it can, and counts tokens under the current stage.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from autointerp.clients.accounting import Accounting
from autointerp.clients.base import Client, LLMError, Message, Response
from autointerp.clients.response_cache import CACHE_FILE, ResponseCache, cache_key, default_cache_path

logger = logging.getLogger(__name__)
MAX_TOP_LOGPROBS = 20


@dataclass(frozen=True)
class Settings:
    """Everything about one call except its messages: its own, never shared with another call."""

    max_tokens: int
    temperature: float
    logprobs: bool
    top_logprobs: int
    response_format: dict[str, Any] | None
    sample: int

    def validate(self) -> None:
        """Raise ValueError naming the setting at fault."""
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 <= self.top_logprobs <= MAX_TOP_LOGPROBS:
            raise ValueError(f"top_logprobs must lie in [0, {MAX_TOP_LOGPROBS}], got {self.top_logprobs}")
        if self.top_logprobs and not self.logprobs:
            raise ValueError("top_logprobs > 0 needs logprobs=True")
        if self.sample < 0:
            raise ValueError(f"sample must be >= 0, got {self.sample}")
        if self.response_format is not None and "type" not in self.response_format:
            raise ValueError("response_format must have a 'type' (e.g. 'json_schema' or 'json_object')")


def _check_messages(messages: list[Message]) -> None:
    if not messages:
        raise ValueError("messages must not be empty")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise ValueError(f"messages[{i}] must be a dict with 'role' and 'content'")


class ManagedClient(Client):
    """A `Client` with a persistent response cache and token accounting around `_complete`."""

    def __init__(
        self,
        model: str,
        *,
        cache: bool = True,
        cache_path: str | None = None,
        accounting: Accounting | None = None,
    ) -> None:
        """cache: answer repeated calls from disk; cache_path: the sqlite file (default: the user
        cache folder, or the run folder via `use_cache_at`); accounting: shared token accounting."""
        if not model:
            raise ValueError("model must be a non-empty model name")
        self.model = model
        self.cache_enabled = cache
        self.cache_path = cache_path
        self.accounting = accounting if accounting is not None else Accounting()
        self._cache: ResponseCache | None = None

    def use_cache_at(self, folder: str | Path) -> None:
        """Keep the response cache in `folder` (the run folder) unless a cache_path was given."""
        if self.cache_path is None and self._cache is None:
            self.cache_path = str(Path(folder) / CACHE_FILE)

    @property
    def response_cache(self) -> ResponseCache | None:
        """The open response cache (opened on first use), or None when caching is off."""
        if not self.cache_enabled:
            return None
        if self._cache is None:
            self._cache = ResponseCache(self.cache_path or default_cache_path())
        return self._cache

    async def generate(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        logprobs: bool = False,
        top_logprobs: int = 0,
        response_format: dict[str, Any] | None = None,
        sample: int = 0,
    ) -> Response:
        """Answer a chat from the cache or the backend; failures raise `LLMError` and are counted."""
        settings = Settings(max_tokens, temperature, logprobs, top_logprobs, response_format, sample)
        settings.validate()
        _check_messages(messages)
        cache = self.response_cache
        key = cache_key(self.model, messages, {**asdict(settings), **self._key_extras()}) if cache is not None else ""
        if cache is not None and (hit := cache.get(key)) is not None:
            self.accounting.record(self.model, hit.prompt_tokens, hit.completion_tokens, cached=True,
                                   answered_by=hit.model)
            return hit
        try:
            response = await self._complete(messages, settings)
        except LLMError:
            self.accounting.record_error(self.model)
            raise
        if cache is not None:
            cache.put(key, self.model, response)
        self.accounting.record(self.model, response.prompt_tokens, response.completion_tokens, cached=False,
                               answered_by=response.model)
        return response

    def _key_extras(self) -> dict[str, Any]:
        """Client-wide options that change answers (extra request fields, a sampling seed), added to
        the cache key; empty by default so plain settings keep their keys."""
        return {}

    @abstractmethod
    async def _complete(self, messages: list[Message], settings: Settings) -> Response:
        """Ask the backend once (with whatever retries it needs); raise `LLMError` on failure."""

    async def close(self) -> None:
        """Close the response cache."""
        if self._cache is not None:
            self._cache.close()
            self._cache = None
