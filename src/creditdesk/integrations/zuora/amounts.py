"""Amounts between our minor units and Zuora's decimal numbers, and how a
credit is spread over the items of the invoice it is taken from."""

from decimal import Decimal
from typing import Any

from creditdesk.billing.adapters import (
    BillingRejectedError,
    BillingTransientError,
    PostingRequest,
)
from creditdesk.money import MoneyError, format_amount, parse_amount


def credit_lines(
    items: list[dict[str, Any]], request: PostingRequest, invoice_ref: str
) -> list[dict[str, Any]]:
    """The invoice items to credit, in order, up to what each still owes."""
    remaining = request.amount_minor
    lines = []
    for item in items:
        if remaining == 0:
            break
        owed = minor_units(item.get("balance", 0), request.currency)
        take = min(owed, remaining)
        if take <= 0:
            continue
        lines.append(
            {
                "invoiceItemId": item["id"],
                "amount": as_decimal(take, request.currency),
                "skuName": item.get("chargeName") or "",
            }
        )
        remaining -= take
    if remaining > 0:
        owed_total = request.amount_minor - remaining
        raise BillingRejectedError(
            f"zuora: invoice {invoice_ref} has "
            f"{format_amount(owed_total, request.currency)} {request.currency} "
            f"left to credit, less than "
            f"{format_amount(request.amount_minor, request.currency)}"
        )
    return lines


def as_decimal(minor: int, currency: str) -> Decimal:
    return Decimal(format_amount(minor, currency))


def minor_units(value: Any, currency: str) -> int:
    """A Zuora amount in minor units; nothing owed counts as zero."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise BillingTransientError(f"zuora: malformed amount {value!r}")
    if value <= 0:
        return 0
    try:
        return parse_amount(format(Decimal(value).normalize(), "f"), currency)
    except MoneyError:
        raise BillingTransientError(f"zuora: malformed amount {value!r}") from None
