"""Confidence intervals for rates and for the difference of two rates, in plain Python.

Wilson's score interval for one proportion stays inside 0–1 and behaves at 0 and at n, where
the textbook ``p ± z·√(p(1−p)/n)`` collapses to a point. The difference of two independent
proportions uses Newcombe's hybrid score interval (method 10 of Newcombe, 1998), built from
the two Wilson intervals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# The standard normal quantile for a two-sided 95% interval.
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Proportion:
    """``hits`` out of ``total``, with its 95% interval (all None when ``total`` is 0)."""

    hits: int
    total: int
    rate: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Difference:
    """One rate minus another, with its 95% interval."""

    value: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        """False while the interval still contains no difference at all."""
        return not self.low <= 0.0 <= self.high


def wilson(hits: int, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for ``hits`` out of ``total`` (``total`` > 0)."""
    if total <= 0 or not 0 <= hits <= total:
        raise ValueError(f"no proportion of {hits} out of {total}")
    p = hits / total
    z2 = z * z
    scale = 1 + z2 / total
    centre = (p + z2 / (2 * total)) / scale
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / scale
    # At 0 and at n the bounds are exactly 0 and 1; rounding must not push them past.
    low = 0.0 if hits == 0 else max(0.0, centre - half)
    high = 1.0 if hits == total else min(1.0, centre + half)
    return low, high


def proportion(hits: int, total: int) -> Proportion:
    """A rate with its Wilson interval; no rate at all when nobody was counted."""
    if total == 0:
        return Proportion(hits, 0, None, None, None)
    low, high = wilson(hits, total)
    return Proportion(hits, total, hits / total, low, high)


def newcombe(hits_a: int, total_a: int, hits_b: int, total_b: int) -> Difference | None:
    """Rate a minus rate b with Newcombe's hybrid score interval; None without both rates."""
    if total_a == 0 or total_b == 0:
        return None
    p_a, p_b = hits_a / total_a, hits_b / total_b
    low_a, high_a = wilson(hits_a, total_a)
    low_b, high_b = wilson(hits_b, total_b)
    d = p_a - p_b
    low = d - math.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2)
    high = d + math.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2)
    return Difference(d, low, high)
