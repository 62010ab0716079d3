"""Fuzz: are the marked tokens the ones where the latent fires?

Three kinds of marked excerpt, shuffled together:
- `correct`: a test example marked where it fires (the explainers' marking rule);
- `wrong`: a test example with the same pattern moved onto tokens where it is silent;
- `decoy`: a scorer negative marked with a test example's pattern.

Every excerpt is a crop of `window - crop` tokens of its window, placed so that the shown position
of the marks follows one distribution for all three kinds (`autointerp.scorers.marks`): the count,
the runs and the positions of the marks say nothing about the kind. Two metrics: correct versus
decoy (`balanced_accuracy`, ...: does the judge tell activating text by the marked tokens?) and
correct versus wrong (`wrong_marks_balanced_accuracy`, ...: does the judge tell where in activating
text the latent fires?).
"""

from __future__ import annotations

import random
from typing import Any

from autointerp.prompting import example_tokens, mark, marked_positions
from autointerp.metrics.classification import verdict_metrics
from autointerp.records import Example, LatentRecord, ScoredSample
from autointerp.scorers import marks, prompts
from autointerp.scorers.classifier import ClassifierScorer, Item

WRONG_KEYS = ("balanced_accuracy", "balanced_accuracy_chance", "balanced_accuracy_itt", "false_positive_rate",
              "auroc", "auroc_chance", "n_negative")


class FuzzScorer(ClassifierScorer):
    """Marked excerpts: correct marks versus decoys (non-activating text) and versus wrong marks
    (activating text marked elsewhere); balanced accuracy of each (chance 0.5), AUROC with logprobs."""

    name = "fuzz"
    _template = prompts.FUZZ

    def __init__(self, *, n_examples_per_prompt: int = 5, log_probs: bool = False, seed: int = 22,
                 threshold: float = 0.0, tokenizer: Any = None, prompt_template: str | None = None,
                 max_tokens: int = 64, temperature: float = 0.0, structured: bool = False,
                 min_per_class: int = 2, crop: int | None = None, wrong_marks: bool = True) -> None:
        """Settings as for detection, plus:

        Args:
            crop: tokens of each window left out of the shown excerpt (the room the crop has to
                move, so mark positions carry no information); None: a quarter of the window.
            wrong_marks: also show test examples with moved marks (the `wrong_marks_` metrics).
        """
        super().__init__(n_examples_per_prompt=n_examples_per_prompt, log_probs=log_probs, seed=seed,
                         threshold=threshold, tokenizer=tokenizer, prompt_template=prompt_template,
                         max_tokens=max_tokens, temperature=temperature, structured=structured,
                         min_per_class=min_per_class)
        if crop is not None and crop < 1:
            raise ValueError(f"crop must be at least 1 (or None), got {crop}")
        self.crop = crop
        self.wrong_marks = wrong_marks

    def shown_width(self, window: int) -> int:
        """Tokens shown of a window of `window` tokens."""
        cut = window // 4 if self.crop is None else self.crop
        return max(1, window - max(1, min(cut, window - 1)))

    def items(self, record: LatentRecord, rng: random.Random) -> list[Item]:
        """Correct, wrong and decoy items (see the module's docstring)."""
        if not record.test:
            return []
        width = self.shown_width(min(len(ex.tokens) for ex in record.test + record.negatives))
        items, patterns = [], []
        for ex in record.test:
            pattern, window = marked_positions(ex, self.threshold), len(ex.tokens)
            shown = marks.correct(pattern, window, width, rng)
            if shown is None:  # the marks spread wider than the crop: not shown
                continue
            patterns.append(pattern)
            items.append(self._item(ex, True, shown, "correct"))
            moved = marks.wrong(pattern, marks.active_positions(ex), window, width, rng) if self.wrong_marks else None
            if moved is not None:
                items.append(self._item(ex, True, moved, "wrong"))
        for ex in record.negatives if patterns else []:
            shown = marks.decoy(rng.choice(patterns), len(ex.tokens), width, rng)
            if shown is not None:
                items.append(self._item(ex, False, shown, "decoy"))
        return items

    def _item(self, ex: Example, activating: bool, shown: marks.Shown, kind: str) -> Item:
        tokens = example_tokens(ex, self.tokenizer)[shown.offset : shown.offset + shown.width]
        return Item(ex, activating, mark(tokens, shown.shown_marks()), quantile=getattr(ex, "quantile", None),
                    highlighted=list(shown.marks), kind=kind, offset=shown.offset)

    def metrics(self, samples: list[ScoredSample]) -> dict[str, float]:
        """Correct versus decoy (plain keys) and correct versus wrong (`wrong_marks_` keys)."""
        probs = self.log_probs
        decoy = [s for s in samples if s.kind in ("correct", "decoy")]
        metrics = verdict_metrics([s.kind == "correct" for s in decoy], [s.prediction for s in decoy],
                                  [s.probability for s in decoy] if probs else None, min_per_class=self.min_per_class)
        wrong = [s for s in samples if s.kind in ("correct", "wrong")]
        if self.wrong_marks:
            found = verdict_metrics([s.kind == "correct" for s in wrong], [s.prediction for s in wrong],
                                    [s.probability for s in wrong] if probs else None, min_per_class=self.min_per_class)
            metrics.update({f"wrong_marks_{k}": v for k, v in found.items() if k in WRONG_KEYS})
        metrics["coverage"] = sum(s.prediction is not None for s in samples) / len(samples) if samples else 0.0
        return metrics
