"""Money as integer minor units plus an ISO 4217 code.

The API speaks decimal strings (``"10.00"``). Parsing is strict: a plain
non-negative decimal with no sign, exponent, grouping or white space, and no
more fractional digits than the currency has. Nothing is ever rounded.
"""

import re
from dataclasses import dataclass
from functools import cache

from iso4217 import Currency

MAX_INTEGER_DIGITS = 12

_DECIMAL = re.compile(r"(?P<int>[0-9]+)(?:\.(?P<frac>[0-9]+))?")


class MoneyError(ValueError):
    """A money value that cannot be taken as it stands."""


@cache
def currency_exponent(code: str) -> int:
    """Minor-unit digits of an ISO 4217 currency; MoneyError if it has none."""
    if not (len(code) == 3 and code.isascii() and code.isupper()):
        raise MoneyError(f"{code!r} is not an upper-case ISO 4217 currency code")
    try:
        exponent = Currency(code).exponent
    except ValueError:
        raise MoneyError(f"{code} is not an ISO 4217 currency") from None
    if exponent is None:
        raise MoneyError(f"{code} has no minor unit and cannot carry credits")
    return exponent


def parse_amount(text: str, currency: str) -> int:
    """Turn ``"10.50"`` into minor units (1050 for GBP) or raise MoneyError."""
    exponent = currency_exponent(currency)
    if not isinstance(text, str):
        raise MoneyError('amount must be a decimal string such as "10.00"')

    match = _DECIMAL.fullmatch(text)
    if match is None:
        raise MoneyError(f'{text!r} is not a plain decimal amount such as "10.00"')

    integer, fraction = match["int"], match["frac"] or ""
    if len(integer.lstrip("0")) > MAX_INTEGER_DIGITS:
        raise MoneyError(f"amount has more than {MAX_INTEGER_DIGITS} integer digits")
    if len(fraction) > exponent:
        raise MoneyError(
            f"{currency} allows {exponent} decimal places; {text!r} has {len(fraction)}"
        )

    return int(integer) * 10**exponent + int(fraction.ljust(exponent, "0") or "0")


def format_amount(minor: int, currency: str) -> str:
    """Turn minor units into the API's decimal string (1050, GBP -> "10.50")."""
    exponent = currency_exponent(currency)
    sign = "-" if minor < 0 else ""
    whole, part = divmod(abs(minor), 10**exponent)
    if exponent == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{part:0{exponent}d}"


@dataclass(frozen=True, slots=True)
class Money:
    minor: int
    currency: str

    def __str__(self) -> str:
        return f"{format_amount(self.minor, self.currency)} {self.currency}"

    @classmethod
    def parse(cls, text: str, currency: str) -> "Money":
        return cls(parse_amount(text, currency), currency)
