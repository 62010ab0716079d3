"""The `Scorer` contract: a record, its explanation and a client in, a `ScoreResult` out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from autointerp.clients.base import Client
from autointerp.records import Explanation, LatentRecord, ScoreResult


class Scorer(ABC):
    """Tests an explanation against a record's held-out examples (`test` and `negatives` only).

    Scorers hold only their settings; the interpret stage passes the client to every call.
    `explanation` is None only for explanation-free scorers (intruder).
    """

    name: str = "scorer"
    needs_explanation: bool = True

    def bind(self, *, tokenizer: Any = None, seed: int | None = None) -> None:
        """Hand over the run's tokenizer and seed (the interpret stage calls this once per run).

        A tokenizer or seed the constructor was given wins; components without one ignore it."""
        if tokenizer is not None and hasattr(self, "tokenizer") and self.tokenizer is None:
            self.tokenizer = tokenizer
        if seed is not None and hasattr(self, "seed") and self.seed is None:
            self.seed = seed

    @abstractmethod
    async def score(self, record: LatentRecord, explanation: Explanation | None, client: Client) -> ScoreResult:
        """Score one latent; per-prompt parse failures are counted in the result, not raised."""
