"""Listing credits: filters, sort orders and keyset cursors.

Every filter and sort names the field it reveals, so a caller who may not see
that field is refused (400, naming the parameter) before anything is read:
ordering or filtering by a hidden amount would disclose it row by row.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa

from creditdesk.access.fields import FieldView, require_readable
from creditdesk.api.pagination import (
    decode_cursor,
    decode_keyset,
    encode_cursor,
    encode_keyset,
)
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.credits.schemas import CreditOut
from creditdesk.errors import ValidationFailed
from creditdesk.money import MoneyError, parse_amount


class CreditSort(StrEnum):
    CREATED = "created_at"
    CREATED_DESC = "-created_at"
    AMOUNT = "amount"
    AMOUNT_DESC = "-amount"

    @property
    def field(self) -> str:
        return self.value.removeprefix("-")

    @property
    def descending(self) -> bool:
        return self.value.startswith("-")


_SORT_COLUMNS = {
    "created_at": BillingCredit.created_at,
    "amount": BillingCredit.amount_minor,
}


@dataclass(frozen=True, slots=True)
class CreditFilters:
    """What the caller asked for; amounts are decimal strings in ``currency``."""

    status: CreditStatus | None = None
    case_id: int | None = None
    account_id: int | None = None
    type: str | None = None
    reason: str | None = None
    currency: str | None = None
    amount_min: str | None = None
    amount_max: str | None = None


# Which governed field each filter parameter reveals.
_FILTER_FIELDS = {
    "type": "type",
    "reason": "reason",
    "amount_min": "amount",
    "amount_max": "amount",
}


def check_visible(
    view: FieldView, filters: CreditFilters, sort: CreditSort | None
) -> None:
    """400 naming the parameter when a filter or the sort uses a hidden field."""
    for parameter, field in _FILTER_FIELDS.items():
        if getattr(filters, parameter) is not None:
            require_readable(view, field, parameter=parameter)
    if sort is not None:
        require_readable(view, sort.field, parameter="sort")


def where_clauses(filters: CreditFilters) -> list[sa.ColumnElement[bool]]:
    """The filters as SQL; amounts are parsed in the currency's minor units."""
    c = BillingCredit
    clauses = []
    equal = {
        c.status: filters.status,
        c.case_id: filters.case_id,
        c.account_id: filters.account_id,
        c.type: filters.type,
        c.reason: filters.reason,
        c.currency: filters.currency,
    }
    clauses.extend(
        column == value for column, value in equal.items() if value is not None
    )
    low = _amount("amount_min", filters.amount_min, filters.currency)
    high = _amount("amount_max", filters.amount_max, filters.currency)
    if low is not None:
        clauses.append(c.amount_minor >= low)
    if high is not None:
        clauses.append(c.amount_minor <= high)
    return clauses


def _amount(parameter: str, text: str | None, currency: str | None) -> int | None:
    if text is None:
        return None
    if currency is None:
        # Amounts of different currencies are not comparable.
        raise ValidationFailed.on(
            "currency", f"{parameter} needs currency= to say what the amount is in"
        )
    try:
        return parse_amount(text, currency)
    except MoneyError as error:
        raise ValidationFailed.on(parameter, str(error)) from None


def ordered_page(
    query: sa.Select[tuple[BillingCredit]],
    sort: CreditSort | None,
    cursor: str | None,
    limit: int,
) -> sa.Select[tuple[BillingCredit]]:
    """``query`` in ``sort`` order (newest id first by default), one page after
    ``cursor``. The id breaks ties, so the order is total and no row is
    skipped or repeated between pages."""
    c = BillingCredit
    if sort is None:
        before = decode_cursor(cursor)
        query = query.order_by(c.id.desc()).limit(limit)
        return query if before is None else query.where(c.id < before)

    # TODO(performance): no (column, id) index backs these sorts, so a large
    # unfiltered list sorts in the database's memory; adding indexes on
    # (amount_minor, id) and (created_at, id) is a schema change for later.
    column = _SORT_COLUMNS[sort.field]
    if sort.descending:
        query = query.order_by(column.desc(), c.id.desc())
    else:
        query = query.order_by(column.asc(), c.id.asc())
    after = decode_keyset(cursor, sort.value)
    if after is not None:
        key, last_id = _parse_key(sort, after[0]), after[1]
        beyond = (column < key) if sort.descending else (column > key)
        beyond_id = (c.id < last_id) if sort.descending else (c.id > last_id)
        query = query.where(sa.or_(beyond, sa.and_(column == key, beyond_id)))
    return query.limit(limit)


def _parse_key(sort: CreditSort, text: str) -> int | datetime:
    try:
        if sort.field == "amount":
            return int(text)
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            raise ValueError(text)
        return moment
    except ValueError:
        raise ValidationFailed.on("cursor", "the cursor is not valid") from None


def next_page_cursor(
    credits: list[BillingCredit], sort: CreditSort | None, limit: int
) -> str | None:
    """A cursor after the last credit when the page came back full."""
    if len(credits) < limit or not credits:
        return None
    last = credits[-1]
    if sort is None:
        return encode_cursor(last.id)
    key = last.amount_minor if sort.field == "amount" else last.created_at.isoformat()
    return encode_keyset(sort.value, key, last.id)


def fieldset(view: FieldView, text: str | None) -> frozenset[str] | None:
    """The keys a sparse fieldset (``fields=amount,status``) asks for, plus
    ``id``; None when the caller asked for every field."""
    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    known = CreditOut.model_fields
    if not names:
        raise ValidationFailed.on("fields", "name at least one field, or leave it out")
    unknown = [name for name in names if name not in known]
    if unknown:
        choices = ", ".join(known)
        raise ValidationFailed.on(
            "fields", f"unknown credit field {', '.join(unknown)}; use any of {choices}"
        )
    for name in names:
        require_readable(view, name, parameter="fields")
    return frozenset({"id", *names})
