"""Token accounting per stage, an optional price table and an optional budget.

The interpret stage marks which stage a call belongs to with `usage_stage("explain")` or
`usage_stage("score/detection")`; the mark is a context variable, so it follows each asyncio task
and needs no extra argument on `Client.generate`.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass

logger = logging.getLogger(__name__)

DEFAULT_STAGE = "other"
_stage: contextvars.ContextVar[str] = contextvars.ContextVar("autointerp_usage_stage", default=DEFAULT_STAGE)


@contextlib.contextmanager
def usage_stage(name: str) -> Iterator[None]:
    """Count every client call made inside this block (and in tasks it starts) under `name`."""
    token = _stage.set(name)
    try:
        yield
    finally:
        _stage.reset(token)


def current_stage() -> str:
    """The stage that calls made here are counted under."""
    return _stage.get()


@dataclass
class StageUsage:
    """Token totals of one stage for one model. Cached calls are counted apart and cost nothing."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_calls: int = 0
    cached_prompt_tokens: int = 0
    cached_completion_tokens: int = 0
    errors: int = 0
    cost_usd: float = 0.0


class Accounting:
    """Sums token usage per (stage, model), estimates cost from a price table, enforces a budget.

    The budget never cancels a call in flight: the pipeline reads `budget_exhausted` before it starts
    a new latent, so every latent it starts is finished.
    """

    def __init__(
        self,
        prices: dict[str, tuple[float, float]] | None = None,
        budget_usd: float | None = None,
        budget_tokens: int | None = None,
    ) -> None:
        """prices: {model: (USD per 1M prompt tokens, USD per 1M completion tokens)};
        budget_usd / budget_tokens: stop starting new latents once spent (uncached calls only)."""
        if budget_usd is not None and budget_usd < 0:
            raise ValueError(f"budget_usd must be >= 0, got {budget_usd}")
        if budget_tokens is not None and budget_tokens < 0:
            raise ValueError(f"budget_tokens must be >= 0, got {budget_tokens}")
        if budget_usd is not None and not prices:
            raise ValueError("budget_usd needs a price table (prices={model: (usd_per_1M_prompt, usd_per_1M_completion)})")
        self.prices = {model: (float(p), float(c)) for model, (p, c) in (prices or {}).items()}
        self.budget_usd = budget_usd
        self.budget_tokens = budget_tokens
        self._usage: dict[tuple[str, str], StageUsage] = {}
        self._lock = threading.Lock()  # the offline client records from a worker thread
        self._warned = False
        self.answered_by: Counter[str] = Counter()
        """Calls per model named in the replies (the model that answered; cached replies included)."""

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        """Estimated USD cost of one uncached call (0 for a model missing from the price table)."""
        prompt_price, completion_price = self.prices.get(model, (0.0, 0.0))
        return (prompt_tokens * prompt_price + completion_tokens * completion_price) / 1e6

    def record(self, model: str, prompt_tokens: int, completion_tokens: int, *, cached: bool,
               answered_by: str | None = None) -> None:
        """Count one answered call under the current stage; answered_by: the model the reply named."""
        with self._lock:
            if answered_by:
                self.answered_by[answered_by] += 1
            usage = self._usage.setdefault((current_stage(), model), StageUsage())
            if cached:
                usage.cached_calls += 1
                usage.cached_prompt_tokens += prompt_tokens
                usage.cached_completion_tokens += completion_tokens
                return
            usage.calls += 1
            usage.prompt_tokens += prompt_tokens
            usage.completion_tokens += completion_tokens
            usage.cost_usd += self.cost(model, prompt_tokens, completion_tokens)
        self._warn_once_if_exhausted()

    def record_error(self, model: str) -> None:
        """Count one call that failed for good under the current stage."""
        with self._lock:
            self._usage.setdefault((current_stage(), model), StageUsage()).errors += 1

    def total(self) -> StageUsage:
        """Totals over every stage and model."""
        out = StageUsage()
        with self._lock:
            for usage in self._usage.values():
                for name, value in asdict(usage).items():
                    setattr(out, name, getattr(out, name) + value)
        return out

    def by_stage(self) -> dict[str, StageUsage]:
        """Totals per stage, summed over models."""
        out: dict[str, StageUsage] = {}
        with self._lock:
            for (stage, _model), usage in self._usage.items():
                acc = out.setdefault(stage, StageUsage())
                for name, value in asdict(usage).items():
                    setattr(acc, name, getattr(acc, name) + value)
        return out

    @property
    def spent_usd(self) -> float:
        """Estimated USD spent by uncached calls so far."""
        return self.total().cost_usd

    @property
    def spent_tokens(self) -> int:
        """Prompt plus completion tokens of uncached calls so far."""
        total = self.total()
        return total.prompt_tokens + total.completion_tokens

    @property
    def budget_exhausted(self) -> bool:
        """True once a budget is set and spent; the pipeline then starts no new latent."""
        if self.budget_usd is not None and self.spent_usd >= self.budget_usd:
            return True
        return self.budget_tokens is not None and self.spent_tokens >= self.budget_tokens

    def summary(self) -> dict[str, float]:
        """Flat metrics for logging: `llm/<stage>/<field>` plus `llm/total/<field>`."""
        out: dict[str, float] = {}
        for stage, usage in sorted(self.by_stage().items()):
            out.update({f"llm/{stage}/{k}": v for k, v in asdict(usage).items()})
        out.update({f"llm/total/{k}": v for k, v in asdict(self.total()).items()})
        return out

    def _warn_once_if_exhausted(self) -> None:
        if not self._warned and self.budget_exhausted:
            self._warned = True
            logger.warning(
                "LLM budget spent (%.4f USD of %s, %d tokens of %s): no new latents will be started",
                self.spent_usd, self.budget_usd, self.spent_tokens, self.budget_tokens,
            )
