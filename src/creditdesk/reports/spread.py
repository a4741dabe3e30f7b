"""Counts, medians and p90s of one group's durations (see ``reports.spans``).

Percentiles are nearest-rank: the value at 1-based rank ceil(p * n / 100)
of the group's values in ascending order. Ranking a few hundred values here
costs less than the database sorting every value of the range for window
functions, and reads the same on both backends.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MEDIAN, P90 = 50, 90


@dataclass(frozen=True, slots=True)
class Spread:
    """Over a group's known values: how many, their sum, median and p90
    (all but the count None when only counted)."""

    count: int
    total: int | None
    median: int | None
    p90: int | None


def spread(values: Iterable[int | None]) -> Spread:
    """The spread of ``values``; None (not yet known) is left out."""
    ordered = sorted(v for v in values if v is not None)
    return Spread(
        count=len(ordered),
        total=sum(ordered),
        median=nearest_rank(ordered, MEDIAN),
        p90=nearest_rank(ordered, P90),
    )


def counted(count: int) -> Spread:
    """A group whose values were counted, not read."""
    return Spread(count, None, None, None)


def nearest_rank(ordered: Sequence[int], percent: int) -> int | None:
    """The ``percent``-th percentile of ``ordered`` (ascending), or None."""
    if not ordered:
        return None
    return ordered[(len(ordered) * percent + 99) // 100 - 1]
