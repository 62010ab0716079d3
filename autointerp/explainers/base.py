"""The `Explainer` contract: a record and a client in, an `Explanation` out (or an error)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from autointerp.clients.base import Client
from autointerp.records import Explanation, LatentRecord


class ExplanationError(RuntimeError):
    """The explainer's reply could not be turned into an explanation; the latent records an error."""


class Explainer(ABC):
    """Builds prompts from a record's training examples and parses the LLM's explanation.

    Explainers hold only their settings; the interpret stage passes the client to every call.
    """

    name: str = "explainer"

    def bind(self, *, tokenizer: Any = None, seed: int | None = None) -> None:
        """Hand over the run's tokenizer and seed (the interpret stage calls this once per run).

        A tokenizer or seed the constructor was given wins; components without one ignore it."""
        if tokenizer is not None and hasattr(self, "tokenizer") and self.tokenizer is None:
            self.tokenizer = tokenizer
        if seed is not None and hasattr(self, "seed") and self.seed is None:
            self.seed = seed

    @abstractmethod
    async def explain(self, record: LatentRecord, client: Client) -> Explanation:
        """Explain one latent; raise `ExplanationError` when the reply cannot be parsed."""
