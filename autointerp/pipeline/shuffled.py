"""The shuffled-explanation control: each latent scored with another latent's explanation.

A fixed, seeded derangement pairs every explained latent with a different one. Scoring latent A
with B's explanation measures how much the judge's answers depend on the explanation at all: a
judge that reads it lands at chance there, and any lift over chance that survives the shuffle is
judge bias (or a latent whose neighbours explain it too). The summary reports each metric's lift
over this control, paired per latent, with a bootstrap interval.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import numpy as np

from autointerp.metrics import bootstrap_ci
from autointerp.records import Latent, ScoreResult

SUFFIX = "@shuffled"
"""Scores of the control live under `scores/<scorer>@shuffled/`."""


def derangement(latents: Sequence[Latent], seed: int) -> dict[Latent, Latent]:
    """{latent: the latent whose explanation it is scored with}, never itself (Sattolo's cycle over
    the sorted latents, seeded); empty with fewer than two latents."""
    order = sorted(latents)
    if len(order) < 2:
        return {}
    cycle = list(order)
    rng = random.Random(f"shuffled/{seed}")
    for i in range(len(cycle) - 1, 0, -1):  # Sattolo: one cycle through all, so no fixed point
        j = rng.randrange(i)
        cycle[i], cycle[j] = cycle[j], cycle[i]
    return {cycle[i]: cycle[(i + 1) % len(cycle)] for i in range(len(cycle))}


def paired_lift(real: Sequence[ScoreResult], control: Sequence[ScoreResult], *, seed: int = 0,
                n_boot: int = 1000, control_key: str = "shuffled") -> dict[str, dict[str, float]]:
    """Per metric, the mean over latents of (real - control) and its bootstrap interval, over the
    latents with a defined value in both; with the control's own mean beside it (under `control_key`)."""
    by_latent = {r.latent: r.metrics for r in control if r.error is None}
    diffs: dict[str, list[float]] = {}
    shuffled: dict[str, list[float]] = {}
    for r in real:
        other = by_latent.get(r.latent)
        if r.error is not None or other is None:
            continue
        for key, value in r.metrics.items():
            if key.endswith("_chance") or key.endswith("_itt") or key.startswith("n_") or key not in other:
                continue
            a, b = float(value), float(other[key])
            if not (math.isnan(a) or math.isnan(b)):
                diffs.setdefault(key, []).append(a - b)
                shuffled.setdefault(key, []).append(b)
    out = {}
    for key, values in sorted(diffs.items()):
        low, high = bootstrap_ci(values, seed=seed, n_boot=n_boot)
        out[key] = {control_key: float(np.mean(shuffled[key])), "lift": float(np.mean(values)),
                    "lift_ci_low": low, "lift_ci_high": high, "n": len(values)}
    return out
