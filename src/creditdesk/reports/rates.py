"""Dated exchange rates: administering them, and converting report totals.

A rate converts one currency (``base``) into another (``quote``) from its
date until the pair's next rate. A credit is converted with the rate in force
on the day of the time the report is on (raised, posted, found); only the
direct pair is used, never its inverse or a cross rate through a third
currency, and a missing rate is an error naming the pair and the day, never
a guess.

Conversion is exact: each (currency, rate) subtotal is multiplied out as a
Decimal and only the final figure is rounded, half to even, to the target's
minor unit.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from creditdesk.access.service import Permission, require
from creditdesk.actors import Actor
from creditdesk.audit import service as audit
from creditdesk.errors import Conflict, FieldIssue, ValidationFailed
from creditdesk.money import MoneyError, currency_exponent
from creditdesk.reports import rounding
from creditdesk.reports.filters import Filters
from creditdesk.reports.models import ExchangeRate
from creditdesk.users.models import User

log = structlog.get_logger(__name__)

_RATE = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,12})?")
# The key of the "period" of amounts already in the target currency.
SAME = 0


class MissingRate(Conflict):
    """A total cannot be converted: no rate for the pair on that day."""

    type_slug = "missing-exchange-rate"
    title = "An exchange rate is missing"


# --- Administration ------------------------------------------------------


def parse_rate(text: str) -> Decimal:
    """A positive plain decimal, or 422 on ``rate``."""
    if not isinstance(text, str) or _RATE.fullmatch(text) is None:
        raise ValidationFailed.on(
            "rate", 'rate must be a plain decimal string such as "1.1725"'
        )
    rate = Decimal(text)
    if rate <= 0:
        raise ValidationFailed.on("rate", "rate must be greater than zero")
    return rate


def _check_pair(base: str, quote: str) -> None:
    for name, code in (("base", base), ("quote", quote)):
        try:
            currency_exponent(code)
        except MoneyError as exc:
            raise ValidationFailed.on(name, str(exc)) from None
    if base == quote:
        raise ValidationFailed.on("quote", "quote must differ from base")


def add_rate(
    session: Session,
    *,
    admin: User,
    base: str,
    quote: str,
    effective_on: date,
    rate: str,
    actor: Actor,
    now: datetime,
) -> ExchangeRate:
    """Record that one ``base`` is worth ``rate`` ``quote`` from
    ``effective_on``; 409 if the pair already has a rate that day."""
    require(admin, Permission.ADMINISTER)
    _check_pair(base, quote)
    value = parse_rate(rate)
    if _rate_on(session, base, quote, effective_on) is not None:
        raise Conflict(
            f"{base}/{quote} already has a rate dated {effective_on.isoformat()}",
            [FieldIssue("effective_on", "a rate for this pair and day exists")],
        )
    row = ExchangeRate(
        base=base,
        quote=quote,
        effective_on=effective_on,
        rate=str(value),
        created_by_id=admin.id,
        created_at=now,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="exchange_rate.add",
        entity_type="exchange_rate",
        entity_id=row.id,
        changes={
            "pair": (None, f"{base}/{quote}"),
            "effective_on": (None, effective_on),
            "rate": (None, row.rate),
        },
        now=now,
    )
    log.info("exchange_rate.added", base=base, quote=quote, rate=row.rate)
    return row


def _rate_on(session: Session, base: str, quote: str, day: date) -> int | None:
    return session.scalar(
        sa.select(ExchangeRate.id).where(
            ExchangeRate.base == base,
            ExchangeRate.quote == quote,
            ExchangeRate.effective_on == day,
        )
    )


def list_rates(
    session: Session,
    *,
    admin: User,
    base: str | None = None,
    quote: str | None = None,
) -> list[ExchangeRate]:
    """Every rate, by pair and newest first."""
    require(admin, Permission.ADMINISTER)
    query = sa.select(ExchangeRate)
    if base is not None:
        query = query.where(ExchangeRate.base == base)
    if quote is not None:
        query = query.where(ExchangeRate.quote == quote)
    order = (ExchangeRate.base, ExchangeRate.quote, ExchangeRate.effective_on.desc())
    return list(session.scalars(query.order_by(*order)))


# --- Conversion ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    currency: str
    effective_on: date
    rate: Decimal


@dataclass(frozen=True, slots=True)
class RateBook:
    """The rates into ``target`` a report over ``filters`` may need, each
    known by a small integer key the query groups by."""

    target: str
    periods: dict[int, Period]

    def period_key(
        self, currency: ColumnElement[str], at: ColumnElement
    ) -> ColumnElement[int]:
        """The key of the rate in force for each row, NULL where none is."""
        branches = [(currency == self.target, sa.literal(SAME))]
        by_currency: dict[str, list[tuple[int, Period]]] = {}
        for key, period in self.periods.items():
            by_currency.setdefault(period.currency, []).append((key, period))
        for code, periods in by_currency.items():
            # Newest first: the first start the row is on or after wins.
            periods.sort(key=lambda kp: kp[1].effective_on, reverse=True)
            inner = sa.case(
                *[(at >= midnight(p.effective_on), sa.literal(k)) for k, p in periods]
            )
            branches.append((currency == code, inner))
        return sa.case(*branches)

    def period_on(self, currency: str, day: date) -> int | None:
        """The key of the rate in force on ``day``, as ``period_key`` gives it
        in SQL; for rows grouped by a date rather than a time."""
        if currency == self.target:
            return SAME
        in_force = [
            (period.effective_on, key)
            for key, period in self.periods.items()
            if period.currency == currency and period.effective_on <= day
        ]
        return max(in_force)[1] if in_force else None

    def convert(
        self, currency: str, key: int | None, minor: int, first_at: datetime
    ) -> Decimal:
        """``minor`` units of ``currency`` in the target's minor units, exact."""
        if key == SAME:
            return Decimal(minor)
        if key is None:
            raise self._missing(currency, first_at.date())
        period = self.periods[key]
        shift = currency_exponent(self.target) - currency_exponent(currency)
        return Decimal(minor) * period.rate * Decimal(10) ** shift

    def _missing(self, currency: str, day: date) -> MissingRate:
        message = (
            f"no exchange rate from {currency} to {self.target} on or before "
            f"{day.isoformat()}; an administrator can add one at "
            "/api/v1/admin/exchange-rates"
        )
        return MissingRate(
            message,
            [FieldIssue("convert_to", message)],
            {"base": currency, "quote": self.target, "date": day.isoformat()},
        )


def midnight(day: date) -> datetime:
    """The first instant of ``day`` (UTC)."""
    return datetime.combine(day, time.min, UTC)


def load_book(session: Session, target: str, filters: Filters) -> RateBook:
    """The rates into ``target`` in force at some time in the range: for each
    currency, its last rate on or before the first day, and every one after."""
    rows = session.execute(
        sa.select(ExchangeRate.base, ExchangeRate.effective_on, ExchangeRate.rate)
        .where(
            ExchangeRate.quote == target,
            ExchangeRate.effective_on <= filters.date_to,
        )
        .order_by(ExchangeRate.base, ExchangeRate.effective_on.desc())
    )
    periods: dict[int, Period] = {}
    reached_start: set[str] = set()
    for base, effective_on, rate in rows:
        if base in reached_start:
            continue
        periods[len(periods) + 1] = Period(base, effective_on, Decimal(rate))
        if effective_on <= filters.date_from:
            reached_start.add(base)
    return RateBook(target, periods)


def round_minor(value: Decimal) -> int:
    """Minor units, by the reports' one rounding rule."""
    return rounding.whole(value)


def average_minor(total: Decimal | int, count: int) -> int:
    """The mean of ``count`` amounts totalling ``total``, half to even."""
    return round_minor(Decimal(total) / count)
