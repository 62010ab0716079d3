"""Retries with exponential backoff and jitter, honouring Retry-After, and the typed errors they end in."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from autointerp.clients.base import LLMError

logger = logging.getLogger(__name__)
T = TypeVar("T")


class TransientError(Exception):
    """One failed attempt that is worth repeating (429, 5xx, timeout, refused connection, malformed body)."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None, status: int | None = None) -> None:
        """kind: rate_limit | server_error | timeout | connection | malformed; status: the HTTP status, if any."""
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.retry_after = retry_after
        self.status = status

    @property
    def overload(self) -> bool:
        """True for the failures that say the server has more than it can take: 429, 503, a timeout."""
        return self.kind in ("rate_limit", "timeout") or self.status == 503


class LLMRetryError(LLMError):
    """Every attempt of a call failed with a transient error; `kind` names the last one."""

    def __init__(self, message: str, *, kind: str, attempts: int) -> None:
        """Record the last failure's kind and how many attempts were made."""
        super().__init__(message)
        self.kind = kind
        self.attempts = attempts


class LLMRequestError(LLMError):
    """The server rejected the request itself (400, 401, 403, 404, 422...): retrying cannot help."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        """Record the HTTP status when there is one."""
        super().__init__(message)
        self.status = status


@dataclass
class RetryPolicy:
    """How often and how patiently a failed call is repeated."""

    max_attempts: int = 6
    """Attempts per call, the first included; then the call fails with `LLMRetryError`."""
    initial_delay: float = 0.5
    """Backoff before the second attempt, in seconds; doubles after each failure."""
    max_delay: float = 30.0
    """Cap on one backoff, in seconds."""
    max_retry_after: float = 120.0
    """Cap on a server's Retry-After, in seconds."""

    def __post_init__(self) -> None:
        """Validate the settings, naming the one at fault."""
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts}")
        for name in ("initial_delay", "max_delay", "max_retry_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"RetryPolicy.{name} must be >= 0, got {getattr(self, name)}")

    def delay(self, failures: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait after `failures` failed attempts: the server's Retry-After when it gave one
        (plus up to 10% jitter), else exponential backoff with equal jitter."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after) * rng.uniform(1.0, 1.1)
        ceiling = min(self.max_delay, self.initial_delay * 2 ** (failures - 1))
        return rng.uniform(ceiling / 2, ceiling)


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from `retry-after-ms` or `retry-after` (seconds or an HTTP date); None when absent."""
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, parsed.timestamp() - time.time())


async def with_retries(
    attempt: Callable[[int], Awaitable[T]],
    policy: RetryPolicy,
    *,
    rng: random.Random | None = None,
    describe: str = "LLM call",
) -> T:
    """Run `attempt(i)` until it returns; repeat on `TransientError` with backoff, then raise
    `LLMRetryError`. Any other exception propagates at once."""
    rng = rng or random.Random()
    for number in range(1, policy.max_attempts + 1):
        try:
            return await attempt(number)
        except TransientError as err:
            if number == policy.max_attempts:
                raise LLMRetryError(
                    f"{describe} failed after {number} attempts; last error {err}", kind=err.kind, attempts=number
                ) from err
            wait = policy.delay(number, err.retry_after, rng)
            logger.info("%s attempt %d failed (%s); retrying in %.2f s", describe, number, err, wait)
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")
