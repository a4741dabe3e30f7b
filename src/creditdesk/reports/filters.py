"""What every report may be narrowed by, checked before any query runs.

Dates are whole UTC days: ``date_from`` and ``date_to`` are both included.
Without them a report covers the twelve months up to today. ``currency``
keeps only records in that currency; ``convert_to`` reports amounts in one
currency, converted with dated exchange rates (see :mod:`.rates`).
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from creditdesk.errors import ValidationFailed
from creditdesk.money import MoneyError, currency_exponent
from creditdesk.users.models import Team, User

DEFAULT_DAYS = 365
MAX_DAYS = 3 * 366


@dataclass(frozen=True, slots=True)
class Filters:
    date_from: date
    date_to: date
    team_id: int | None = None
    agent_id: int | None = None
    product: str | None = None
    reason: str | None = None
    currency: str | None = None
    convert_to: str | None = None

    @property
    def start(self) -> datetime:
        """The first instant of the range (UTC)."""
        return datetime.combine(self.date_from, time.min, UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the range (UTC)."""
        return datetime.combine(self.date_to + timedelta(days=1), time.min, UTC)

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    def narrows_credits(self) -> bool:
        """Whether a filter names something only a credit or case carries."""
        return any(
            v is not None
            for v in (self.team_id, self.agent_id, self.product, self.reason)
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "date_from": self.date_from.isoformat(),
            "date_to": self.date_to.isoformat(),
            "team": self.team_id,
            "agent": self.agent_id,
            "product": self.product,
            "reason": self.reason,
            "currency": self.currency,
            "convert_to": self.convert_to,
        }


def check_filters(
    session: Session,
    *,
    today: date,
    date_from: date | None = None,
    date_to: date | None = None,
    team_id: int | None = None,
    agent_id: int | None = None,
    product: str | None = None,
    reason: str | None = None,
    currency: str | None = None,
    convert_to: str | None = None,
) -> Filters:
    """The filters, or a 422 naming the first one at fault."""
    end = date_to or today
    start = date_from or end - timedelta(days=DEFAULT_DAYS - 1)
    _check_range(start, end)
    if team_id is not None and session.get(Team, team_id) is None:
        raise ValidationFailed.on("team", f"team {team_id} does not exist")
    if agent_id is not None and session.get(User, agent_id) is None:
        raise ValidationFailed.on("agent", f"user {agent_id} does not exist")
    for name, text in (("product", product), ("reason", reason)):
        if text is not None and not (0 < len(text.strip()) <= 100):
            raise ValidationFailed.on(name, f"{name} must be 1 to 100 characters")
    for name, code in (("currency", currency), ("convert_to", convert_to)):
        if code is not None:
            _check_currency(name, code)
    return Filters(
        date_from=start,
        date_to=end,
        team_id=team_id,
        agent_id=agent_id,
        product=product,
        reason=reason,
        currency=currency,
        convert_to=convert_to,
    )


def _check_range(start: date, end: date) -> None:
    if end < start:
        raise ValidationFailed.on("date_to", "date_to is before date_from")
    if (end - start).days + 1 > MAX_DAYS:
        raise ValidationFailed.on(
            "date_from", f"a report covers at most {MAX_DAYS} days"
        )


def _check_currency(name: str, code: str) -> None:
    try:
        currency_exponent(code)
    except MoneyError as exc:
        raise ValidationFailed.on(name, str(exc)) from None


def on_credits(
    filters: Filters, credit: Any, *, day: Any
) -> list[sa.ColumnElement[bool]]:
    """WHERE clauses for a credits query; ``day`` is the time the range is on."""
    return [day >= filters.start, day < filters.end, *credit_matches(filters, credit)]


def credit_matches(filters: Filters, credit: Any) -> list[sa.ColumnElement[bool]]:
    """WHERE clauses for the filters a credit carries (all but the range)."""
    pairs = (
        (credit.team_id, filters.team_id),
        (credit.requested_by_id, filters.agent_id),
        (credit.product, filters.product),
        (credit.reason, filters.reason),
        (credit.currency, filters.currency),
    )
    return [column == value for column, value in pairs if value is not None]
