"""Random draws for a generated history, cheaper than ``random.Random``'s own.

``randint``, ``choice`` and ``choices`` are written in Python and take close
to a microsecond each, and a history of a million credits makes tens of
millions of draws. These scale one ``random()`` (a single C call) instead,
which draws from the same distributions to within a float's precision (a
different stream of values for a seed, not different odds).
"""

from collections.abc import Callable, Sequence
from math import exp
from statistics import NormalDist
from typing import TypeVar

T = TypeVar("T")
Uniform = Callable[[], float]

# Quantiles of the standard normal distribution, for lognormal draws: a
# table lookup instead of Python's rejection sampling, with a thousand
# steps, finer than any figure the history is read at.
_NORMAL = [NormalDist().inv_cdf((i + 0.5) / 1_000) for i in range(1_000)]


def between(random: Uniform, low: int, high: int) -> int:
    """A whole number from ``low`` to ``high`` inclusive, as ``randint``."""
    return low + int(random() * (high - low + 1))


def pick(random: Uniform, items: Sequence[T]) -> T:
    """One of ``items``, each as likely, as ``choice``."""
    return items[int(random() * len(items))]


def weighted(pairs: Sequence[tuple[T, int]]) -> tuple[T, ...]:
    """``(value, whole-number weight)`` pairs as a table ``pick`` draws from
    with those odds: each value repeated as often as its weight."""
    return tuple(value for value, weight in pairs for _ in range(weight))


def lognormal(random: Uniform, sigma: float) -> float:
    """A lognormal draw with median 1, as ``lognormvariate(0, sigma)``."""
    return exp(sigma * _NORMAL[int(random() * 1_000)])
