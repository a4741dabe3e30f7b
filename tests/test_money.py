"""Money parsing and formatting: strict, lossless, never rounded."""

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditdesk.money import (
    MAX_INTEGER_DIGITS,
    MoneyError,
    currency_exponent,
    format_amount,
    parse_amount,
)

CURRENCIES = st.sampled_from(["GBP", "EUR", "USD", "JPY", "KWD", "BHD", "CLF"])
MAX_MINOR_WHOLE = 10**MAX_INTEGER_DIGITS - 1


@given(currency=CURRENCIES, data=st.data())
def test_format_then_parse_is_the_identity(currency: str, data: st.DataObject) -> None:
    exponent = currency_exponent(currency)
    minor = data.draw(st.integers(0, MAX_MINOR_WHOLE * 10**exponent))
    assert parse_amount(format_amount(minor, currency), currency) == minor


@given(
    whole=st.integers(0, MAX_MINOR_WHOLE),
    fraction=st.text("0123456789", min_size=0, max_size=2),
)
def test_parse_matches_exact_decimal_arithmetic(whole: int, fraction: str) -> None:
    text = f"{whole}.{fraction}" if fraction else str(whole)
    expected = whole * 100 + int(fraction.ljust(2, "0") or "0")
    assert parse_amount(text, "GBP") == expected


@given(
    whole=st.integers(0, 10**6),
    fraction=st.text("0123456789", min_size=3, max_size=6),
)
def test_more_digits_than_the_currency_has_are_refused_not_rounded(
    whole: int, fraction: str
) -> None:
    with pytest.raises(MoneyError, match="decimal places"):
        parse_amount(f"{whole}.{fraction}", "GBP")


@given(text=st.text(max_size=20))
def test_arbitrary_text_is_refused_or_parsed_exactly(text: str) -> None:
    try:
        minor = parse_amount(text, "EUR")
    except MoneyError:
        return
    assert re.fullmatch(r"[0-9]+(\.[0-9]{1,2})?", text)
    assert Decimal(text) * 100 == minor


@pytest.mark.parametrize(
    "text",
    [
        "1e3",
        "10,00",
        " 10.00",
        "10.00 ",
        "NaN",
        "inf",
        "-1.00",
        "+1.00",
        "1.",
        ".5",
        "",
        "0x10",
        "1_000.00",
        "\u0661\u0660.\u0660\u0660",  # Arabic-Indic digits
    ],
)
def test_notations_other_than_plain_decimals_are_refused(text: str) -> None:
    with pytest.raises(MoneyError):
        parse_amount(text, "GBP")


def test_integer_digits_are_limited() -> None:
    assert parse_amount("9" * 12, "JPY") == 10**12 - 1
    with pytest.raises(MoneyError, match="12 integer digits"):
        parse_amount("1" + "0" * 12, "JPY")


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (1000, "GBP", "10.00"),
        (5, "GBP", "0.05"),
        (1234, "JPY", "1234"),
        (1500, "KWD", "1.500"),
        (-250, "EUR", "-2.50"),
    ],
)
def test_format_uses_the_currency_exponent(
    minor: int, currency: str, text: str
) -> None:
    assert format_amount(minor, currency) == text


@pytest.mark.parametrize("code", ["gbp", "XYZ", "GB", "GBPX", "XAU"])
def test_unknown_or_unit_less_currencies_are_refused(code: str) -> None:
    with pytest.raises(MoneyError):
        currency_exponent(code)
