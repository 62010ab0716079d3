"""The `Scorer` contract: a record, its explanation and a client in, a `ScoreResult` out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from autointerp.clients.base import Client
from autointerp.prompting import RunBound
from autointerp.records import Explanation, LatentRecord, ScoreResult


class Scorer(RunBound, ABC):
    """Tests an explanation against a record's held-out examples (`test` and `negatives` only).

    Scorers hold only their settings; the interpret stage passes the client to every call.
    `explanation` is None only for explanation-free scorers (intruder).
    """

    name: str = "scorer"
    needs_explanation: bool = True
    reads_only_examples: bool = True
    """False for a scorer that needs the latent's decoder row (steering): known-answer latents have none."""

    @abstractmethod
    async def score(self, record: LatentRecord, explanation: Explanation | None, client: Client) -> ScoreResult:
        """Score one latent; per-prompt parse failures are counted in the result, not raised."""
