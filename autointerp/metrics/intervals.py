"""Confidence intervals of a proportion (one latent's accuracy over a handful of prompts)."""

from __future__ import annotations

import math


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval (95% by default) of `successes` out of `n`; (nan, nan) when n is 0.

    Unlike the normal approximation it stays inside [0, 1] and is not empty at 0 or n successes,
    which matters at 8 prompts per latent."""
    if n <= 0:
        return math.nan, math.nan
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the edges, not 1 - 1e-16
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high
