"""`Gate`: how many requests a client keeps in flight, and which waiting request goes next.

Requests wait HERE, on our side, where no request timeout runs; only an admitted request is sent
(and only then does its timeout clock start). Two things decide admission:

- the limit: fixed (a managed server's slots) or adaptive (`AdaptiveLimit`, AIMD: halve on a 429,
  503 or timeout, or when replies come back much slower than the fastest seen, once per wave of
  requests; grow by one per limit's worth of timely replies);
- the order: waiting requests are grouped by their prompt's head (every message but the last, and
  the last one's first line: for the scorers, the system prompt and the explanation). A freed slot
  goes to the group that was admitted last while it has waiters, so prompts sharing a prefix reach
  the server back to back and its prefix cache (llama.cpp's slot, vLLM's automatic prefix caching)
  reuses it; otherwise to the oldest group. Within a group, first come first served.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict, deque
from dataclasses import dataclass

from autointerp.clients.base import Message

logger = logging.getLogger(__name__)

WINDOW = 256
"""Replies of one kind whose fastest sets the latency floor."""
SMOOTHING = 0.25
"""Weight of the newest reply in the moving average of latency (one slow reply is not a trend)."""


def prefix_group(messages: list[Message]) -> str:
    """The key of a prompt's shared head: all messages but the last, plus the last one's first line."""
    head = [f"{m.get('role')}\x00{m.get('content')}" for m in messages[:-1]]
    last = str(messages[-1].get("content", "")).split("\n", 1)[0] if messages else ""
    return hashlib.blake2b("\x01".join([*head, last]).encode(), digest_size=12).hexdigest()


@dataclass
class AdaptiveLimit:
    """AIMD concurrency for a server we do not know: back off on overload, creep up while it keeps pace."""

    maximum: int
    """The ceiling (the client's `max_concurrency`)."""
    minimum: int = 1
    """The floor."""
    slow_factor: float = 2.0
    """Replies of one kind coming back this many times slower (smoothed) than the fastest recent one
    count as overload: the server is queueing what we send."""
    decrease: float = 0.5
    """Multiplier applied to the limit on overload."""

    def __post_init__(self) -> None:
        """Validate the settings and start at the ceiling (an idle fast server loses nothing)."""
        if not 1 <= self.minimum <= self.maximum:
            raise ValueError(f"AdaptiveLimit needs 1 <= minimum <= maximum, got {self.minimum}, {self.maximum}")
        if self.slow_factor <= 1 or not 0 < self.decrease < 1:
            raise ValueError("AdaptiveLimit needs slow_factor > 1 and 0 < decrease < 1")
        self.value = float(self.maximum)
        self._latencies: dict[object, deque[float]] = {}  # the last WINDOW latencies per kind
        self._smoothed: dict[object, float] = {}  # their moving average since the last cut
        self.epoch = 0
        """How many cuts so far; a request remembers the epoch it was sent in."""

    @property
    def limit(self) -> int:
        """Requests allowed in flight now."""
        return max(self.minimum, int(self.value))

    def overloaded(self, epoch: int) -> None:
        """A 429, a 503 or a timeout of a request sent in `epoch`: cut the limit, unless it was cut
        since that request left (a whole wave of failures counts once)."""
        if epoch == self.epoch:
            self._cut()

    def answered(self, kind: object, seconds: float, epoch: int) -> None:
        """A reply after `seconds` to a request sent in `epoch`; `kind` groups requests of similar
        size (their max_tokens), whose latencies are compared."""
        recent = self._latencies.setdefault(kind, deque(maxlen=WINDOW))
        recent.append(seconds)
        smoothed = self._smoothed.get(kind, seconds)
        self._smoothed[kind] = smoothed = smoothed + SMOOTHING * (seconds - smoothed)
        if len(recent) > 1 and smoothed > self.slow_factor * min(recent):
            if epoch == self.epoch:
                self._cut()
            return  # a slow reply never raises the limit
        self.value = min(float(self.maximum), self.value + 1.0 / self.limit)

    def _cut(self) -> None:
        before = self.limit
        self.value = max(float(self.minimum), self.value * self.decrease)
        self.epoch += 1
        self._smoothed.clear()  # judged afresh on replies to what is sent from now on
        logger.info("the LLM server is overloaded: in-flight limit %d -> %d", before, self.limit)


class Gate:
    """Admits at most `limit` requests at once, same-prefix prompts back to back. One per event loop."""

    def __init__(self, limit: int, adaptive: AdaptiveLimit | None = None) -> None:
        """limit: the fixed ceiling; adaptive: an AIMD limit applied below it (None: fixed)."""
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        self.ceiling = limit
        self.adaptive = adaptive
        self.in_flight = 0
        self.peak = 0
        self._groups: OrderedDict[str, deque[asyncio.Future]] = OrderedDict()
        self._last: str | None = None

    @property
    def limit(self) -> int:
        """Requests allowed in flight now."""
        return min(self.ceiling, self.adaptive.limit) if self.adaptive else self.ceiling

    async def acquire(self, group: str) -> None:
        """Wait for a slot (no timeout runs here); `group` is the prompt's `prefix_group`."""
        if self.in_flight < self.limit and not self._groups:
            self._admit(group)
            return
        future = asyncio.get_running_loop().create_future()
        self._groups.setdefault(group, deque()).append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # admitted just as it was cancelled: pass the slot on
                self.release()
            else:
                self._discard(group, future)
            raise

    def release(self) -> None:
        """Free a slot and admit the next waiters."""
        self.in_flight -= 1
        self._wake()

    def _admit(self, group: str) -> None:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        self._last = group

    def _wake(self) -> None:
        while self._groups and self.in_flight < self.limit:
            group = self._last if self._last in self._groups else next(iter(self._groups))
            waiters = self._groups[group]
            future = waiters.popleft()
            if not waiters:
                del self._groups[group]
            if future.done():  # cancelled while waiting
                continue
            self._admit(group)
            future.set_result(None)

    def _discard(self, group: str, future: asyncio.Future) -> None:
        """Remove a cancelled waiter (if `_wake` has not dropped it already)."""
        waiters = self._groups.get(group)
        if waiters is not None and future in waiters:
            waiters.remove(future)
            if not waiters:
                del self._groups[group]
