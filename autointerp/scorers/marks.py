"""Where marked scorers (fuzz, intruder) put their << >> marks, so that form never gives the class away.

Centred activating windows peak at the same index (`left_context`) almost every time, so any mark
placed by a different rule can be told apart by its position alone. The rules here make every kind
of marked excerpt look alike: a decoy copies a real positive's marked positions exactly; fuzz shows
each window through a crop placed so that the shown positions of correct, wrong and decoy marks all
follow one distribution.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from autointerp.records import Example


@dataclass(frozen=True)
class Shown:
    """One excerpt as shown: the crop `[offset, offset + width)` of its window and its marked
    positions, in window coordinates."""

    offset: int
    width: int
    marks: tuple[int, ...]

    def shown_marks(self) -> list[int]:
        """The marked positions counted inside the crop."""
        return [p - self.offset for p in self.marks]


def first_positions(pattern: list[int], window: int, width: int) -> range:
    """Where a pattern's first mark may be shown in a crop of `width` out of `window` tokens, the
    crop lying inside the window and holding the whole pattern (empty when it does not fit)."""
    p0, span = pattern[0], pattern[-1] - pattern[0]
    return range(max(0, p0 - (window - width)), min(p0, width - 1 - span) + 1)


def _first_place(pattern: list[int], window: int, width: int, rng: random.Random) -> int | None:
    """Where in the crop a pattern's first mark is shown: uniform over the feasible places (None: none)."""
    places = first_positions(pattern, window, width) if pattern else ()
    return rng.choice(places) if places else None


def correct(pattern: list[int], window: int, width: int, rng: random.Random) -> Shown | None:
    """The true pattern in a crop placed so its first mark is shown at a uniform feasible place."""
    q = _first_place(pattern, window, width, rng)
    return None if q is None else Shown(pattern[0] - q, width, tuple(pattern))


def wrong(pattern: list[int], active: set[int], window: int, width: int, rng: random.Random) -> Shown | None:
    """The pattern shown where a correct one would be, over window tokens where the latent is silent.

    The shown positions are drawn as for `correct`; the crop then moves (keeping the true pattern in
    view) so the marks fall on other tokens of the same window, none of them active. None when no
    placement exists.
    """
    if not pattern:
        return None
    places = list(first_positions(pattern, window, width))
    rng.shuffle(places)
    for q in places:
        shown = [p - pattern[0] + q for p in pattern]
        # the crop keeps the true pattern in view (the text shown is still activating text)
        offsets = [c for c in range(max(0, pattern[-1] - width + 1), min(pattern[0], window - width) + 1)
                   if not active.intersection(s + c for s in shown)]
        if offsets:
            c = rng.choice(offsets)
            return Shown(c, width, tuple(s + c for s in shown))
    return None


def decoy(pattern: list[int], window: int, width: int, rng: random.Random) -> Shown | None:
    """A positive's pattern on a non-activating window, shown exactly as `correct` would show it."""
    q = _first_place(pattern, window, width, rng)
    if q is None:
        return None
    c = rng.randrange(window - width + 1)
    return Shown(c, width, tuple(p - pattern[0] + q + c for p in pattern))


def active_positions(example: Example) -> set[int]:
    """Positions of the window where the latent is nonzero."""
    return {int(i) for i in np.flatnonzero(np.asarray(example.activations) > 0)}
