"""The `Explainer` contract: a record and a client in, an `Explanation` out (or an error)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from autointerp.clients.base import Client
from autointerp.prompting import RunBound
from autointerp.records import Explanation, LatentRecord


class ExplanationError(RuntimeError):
    """The explainer's reply could not be turned into an explanation; the latent records an error."""


class Explainer(RunBound, ABC):
    """Builds prompts from a record's training examples and parses the LLM's explanation.

    Explainers hold only their settings; the interpret stage passes the client to every call.
    """

    name: str = "explainer"

    @abstractmethod
    async def explain(self, record: LatentRecord, client: Client) -> Explanation:
        """Explain one latent; raise `ExplanationError` when the reply cannot be parsed."""
