"""The `Client` contract every LLM backend implements, and what a call returns."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

Message = dict[str, str]
"""An OpenAI-style chat message: {"role": "system" | "user" | "assistant", "content": str}."""


@dataclass
class TokenLogprob:
    """One generated token with its log probability and the top alternatives at its position."""

    token: str
    logprob: float
    top_logprobs: dict[str, float] = field(default_factory=dict)


@dataclass
class Response:
    """What one `generate` call returns."""

    text: str
    logprobs: list[TokenLogprob] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    """True when the answer came from the response cache and cost nothing."""
    model: str | None = None
    """The model the server says answered (its reply's `model` field); None when it did not say."""


class LLMError(RuntimeError):
    """A call that failed for good (after its retries); the caller records it, never fakes text."""


class Client(ABC):
    """An LLM backend. Every call carries its own sampling settings; nothing is shared between calls."""

    model: str

    @abstractmethod
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
        """Answer a chat. `sample` tells apart repeated draws at temperature > 0 (cache keys differ)."""

    async def close(self) -> None:
        """Release connections or models; a no-op by default."""
