"""`SelectionConfig`: best-of-k explanations and revision from mistakes, judged on the select split only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class SelectionConfig:
    """How each latent's explanation is chosen: k candidates, each scored on the select split by one
    scorer, the best kept, then up to `rounds` revisions (each kept only if it scores better on select).
    The kept explanation is then scored on the test split like any other; select scores are never
    reported as its score. Off by default (k=1, rounds=0): one explanation, as written."""

    k: int = 1
    """Candidate explanations per latent. The first is the explainer's own call (the single-shot
    explanation); the others are drawn at `temperature`, each on its own `train_fraction` of the train examples."""
    rounds: int = 0
    """Revision rounds: the explainer sees the kept explanation with the select examples the scorer got
    wrong (missed and false alarms, marked) and proposes a revision."""
    scorer: str | None = None
    """The scorer (by its name in `interpret.scorers`) that judges candidates on the select split;
    None: the first of the run's scorers that reads explanations."""
    metric: str = "balanced_accuracy"
    """The metric of that scorer's result to maximise (e.g. `balanced_accuracy`, `f1`, `correlation`)."""
    temperature: float = 0.7
    """Sampling temperature of candidates 2..k (the first keeps the explainer's own temperature)."""
    train_fraction: float = 1.0
    """Share of the train examples each of candidates 2..k is shown (a seeded subset per candidate);
    1.0 shows them all."""
    max_mistakes: int = 10
    """Most wrongly judged select examples shown in a revision prompt (missed ones first, then false alarms)."""

    def __post_init__(self) -> None:
        """Check every setting and name the one at fault."""
        for name, minimum in (("k", 1), ("rounds", 0), ("max_mistakes", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"selection.{name} must be an integer >= {minimum}, got {value!r}")
        if not isinstance(self.temperature, (int, float)) or self.temperature < 0:
            raise ValueError(f"selection.temperature must be >= 0, got {self.temperature!r}")
        if not isinstance(self.train_fraction, (int, float)) or not 0.0 < self.train_fraction <= 1.0:
            raise ValueError(f"selection.train_fraction must lie in (0, 1], got {self.train_fraction!r}")
        if not isinstance(self.metric, str) or not self.metric:
            raise ValueError(f"selection.metric must name a metric, got {self.metric!r}")

    @property
    def active(self) -> bool:
        """True when there is anything to select or revise."""
        return self.k > 1 or self.rounds > 0

    def check(self, scorer_names: list[str], needs_explanation: dict[str, bool], n_select: int,
              n_select_negatives: int, negatives_needed: bool) -> None:
        """Refuse a selection the run cannot do, before any heavy work (each error names its setting)."""
        if not self.active:
            return
        what = f"selection.k={self.k}" if self.k > 1 else f"selection.rounds={self.rounds}"
        if n_select == 0:
            raise ValueError(f"{what} needs a select split: set examples.n_examples_select > 0 (the select split is "
                             "empty, and choosing on test examples would leak into the reported scores)")
        name = self.scorer_name(scorer_names, needs_explanation)
        if name not in scorer_names:
            raise ValueError(f"selection.scorer={self.scorer!r} is not one of the run's scorers {scorer_names}")
        if not needs_explanation.get(name, True):
            raise ValueError(f"selection.scorer={name!r} does not read explanations, so it cannot choose between them")
        if negatives_needed and n_select_negatives == 0:
            raise ValueError(f"selection.scorer={name!r} needs non-activating select examples: "
                             "examples.n_non_activating_select is 0")

    def scorer_name(self, scorer_names: list[str], needs_explanation: dict[str, bool]) -> str | None:
        """The selection scorer's name: the setting, or the first scorer that reads explanations."""
        if self.scorer is not None:
            return self.scorer
        return next((n for n in scorer_names if needs_explanation.get(n, True)), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(vars(self))
