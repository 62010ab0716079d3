"""What the baseline explainer and the second judge share: scores stored beside the run's own, under
`<scorer><suffix>`, each with a fingerprint of its own, so a resumed run redoes only what is missing."""

from __future__ import annotations

from typing import Any

from autointerp.pipeline import outputs
from autointerp.records import Latent


class ExtraScores:
    """A second set of scores of every scorer that reads an explanation; subclasses say how they are
    made (`run`) and what makes them stale (`fingerprint`)."""

    suffix: str = ""
    """Appended to a scorer's name to give where these results live (`detection@top-tokens`)."""

    def __init__(self, scorers: dict[str, Any]) -> None:
        """scorers: {name: Scorer}; only those that read an explanation get extra scores."""
        self.names = [name for name, scorer in scorers.items() if scorer.needs_explanation]

    def stored(self, name: str) -> str:
        """Where the extra results of scorer `name` live: `<name><suffix>`."""
        return name + self.suffix

    def fingerprint(self, name: str) -> str:
        """The protocol of the extra score of scorer `name`."""
        raise NotImplementedError

    def fingerprints(self) -> dict[str, str]:
        """{stored name: fingerprint} of every extra result."""
        return {self.stored(name): self.fingerprint(name) for name in self.names}

    def todo(self, stage: Any, latent: Latent, rescore_all: bool) -> list[str]:
        """Scorers whose extra result for `latent` is missing or of another protocol."""
        if rescore_all or "scores" in stage.redo:
            return list(self.names)
        return [n for n in self.names
                if not outputs.score_done(stage.paths, self.stored(n), latent, self.fingerprint(n))]
