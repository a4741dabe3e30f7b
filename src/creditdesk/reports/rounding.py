"""The one rounding rule reports use: half to even, once, on the final figure.

Amounts end in whole minor units, durations in whole seconds, shares and
ratios in two decimal places. Nothing is rounded on the way to a figure.
"""

from decimal import ROUND_HALF_EVEN, Decimal

_WHOLE = Decimal(1)
_HUNDREDTH = Decimal("0.01")


def whole(value: Decimal) -> int:
    """``value`` to a whole number (minor units, seconds)."""
    return int(value.quantize(_WHOLE, rounding=ROUND_HALF_EVEN))


def two_places(value: Decimal) -> str:
    """``value`` as text with two decimal places (a share, a ratio)."""
    return str(value.quantize(_HUNDREDTH, rounding=ROUND_HALF_EVEN))
