"""Pure arithmetic of the benchmark report: medians, ratios, goals, growth (unit-tested)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def median(values: Sequence[float] | None) -> float | None:
    """The median, or None for no values."""
    if not values:
        return None
    return float(statistics.median(values))


def spread(values: Sequence[float] | None) -> tuple[float, float] | None:
    if not values:
        return None
    return float(min(values)), float(max(values))


def ratio(value: float | None, baseline: float | None) -> float | None:
    """value / baseline, None when either is missing or the baseline is not positive."""
    if value is None or baseline is None or baseline <= 0:
        return None
    return value / baseline


@dataclass(frozen=True)
class Goal:
    """``value <op> limit``: op is "<=" (a time or a ratio) or ">=" (a rate)."""

    op: str
    limit: float

    def met(self, value: float | None) -> bool | None:
        if value is None:
            return None
        if self.op == "<=":
            return value <= self.limit
        if self.op == ">=":
            return value >= self.limit
        raise ValueError("unknown goal operator %r" % self.op)

    def __str__(self) -> str:
        limit = ("%d" % self.limit) if float(self.limit).is_integer() and self.limit >= 100 else ("%g" % self.limit)
        return "%s %s" % ("≤" if self.op == "<=" else "≥", limit)


def verdict(goal: Goal, value: float | None) -> str:
    met = goal.met(value)
    return "n/m" if met is None else ("pass" if met else "**miss**")


def growth(first: float | None, last: float | None) -> float | None:
    """How many times a figure grew between two sizes."""
    return ratio(last, first)


def scaling(figure_growth: float | None, data_growth: float | None) -> float | None:
    """Figure growth per data growth: 1.0 is linear, below 1 sub-linear (fixed costs), above 1 worse than linear."""
    return ratio(figure_growth, data_growth)
