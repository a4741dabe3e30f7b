"""Billed revenue per team and month, and the credits posted as a share of it
(the leakage report; see docs/reports.md).

A team's billed revenue in a month is the total of the invoices issued that
month, and not cancelled since, to the accounts the team looks after
(``accounts.team_id``, which each invoice carries a copy of). It is one
grouped query over the invoices, kept apart from the credit figures and
joined to them here, so the credit query stays as it is.
"""

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from creditdesk.access.visibility import line_below, sees_everything
from creditdesk.invoices.models import Invoice, InvoiceStatus
from creditdesk.money import format_amount
from creditdesk.reports import rounding
from creditdesk.reports.rates import midnight, round_minor
from creditdesk.reports.scope import Scope
from creditdesk.reports.tally import Key, Tally
from creditdesk.users.models import Team, User

# (month, team_id, currency) -> (invoices, exact total in minor units)
Billed = dict[tuple[str, int, str], tuple[int, Decimal]]


def billed(session: Session, scope: Scope) -> Billed | None:
    """The revenue of each team-month and currency (converted when the scope
    converts); None when the caller may not see amounts."""
    if not scope.amounts:
        return None
    tally = scope.tally()
    book = scope.book
    for row in session.execute(_by_day(session, scope)):
        period = book.period_on(row.currency, row.day) if book else None
        first_at = midnight(row.day) if book else None
        key = (f"{row.day:%Y-%m}", row.team_id)
        tally.add(key, row.currency, period, row.invoices, row.total, first_at)
    return {
        (key[0], key[1], currency): (count, total)
        for key, currency, count, total in tally.totals()
        if currency is not None
    }


def _by_day(session: Session, scope: Scope) -> sa.Select:
    # Grouped by day, not month: the groups then follow the index, so the
    # database neither sorts nor joins, and a conversion has each day's rate.
    i = Invoice
    filters = scope.filters
    query = (
        sa.select(
            i.team_id,
            i.issued_on.label("day"),
            i.currency,
            sa.func.count().label("invoices"),
            sa.func.sum(i.amount_minor).label("total"),
        )
        .where(
            i.team_id.is_not(None),
            i.issued_on >= filters.date_from,
            i.issued_on <= filters.date_to,
            i.status == InvoiceStatus.ISSUED,
        )
        .group_by(i.team_id, i.issued_on, i.currency)
    )
    if filters.team_id is not None:
        query = query.where(i.team_id == filters.team_id)
    elif scope.dialect == "sqlite":
        # SQLite would read the index from the first team's first invoice to
        # the last team's last; named team by team, it reads each team's
        # range of days alone (half the time for a year of two). PostgreSQL
        # scans the table in parallel either way.
        query = query.where(i.team_id.in_(sa.select(Team.id)))
    if filters.currency is not None:
        query = query.where(i.currency == filters.currency)
    if not sees_everything(scope.user):
        query = query.where(i.team_id.in_(_teams_of_line(session, scope.user)))
    return query


def _teams_of_line(session: Session, user: User) -> sa.Select:
    # The revenue of the teams of the people the caller sees the credits of:
    # their own team, and those of everyone below them in the reporting line.
    line = line_below(session, user)
    return sa.select(User.team_id).where(User.id.in_(line)).distinct()


def share_columns(
    row: dict[str, Any], key: Key, credits: Tally, revenue: Billed
) -> dict[str, Any]:
    """``billed`` and ``share_percent`` for one row of credit figures: null
    when no invoice of the team's accounts is known for that month."""
    month, team_id = key[0], key[1]
    currency = row["currency"]
    found = revenue.get((month, team_id, currency)) if team_id else None
    if found is None or not found[1]:
        return {"billed": None, "share_percent": None}
    total = found[1]
    share = credits.exact(key, currency) * 100 / total
    return {
        "billed": format_amount(round_minor(total), currency),
        "share_percent": rounding.two_places(share),
    }


def revenue_rows(revenue: Billed, teams: dict[int, str]) -> list[dict[str, Any]]:
    """The revenue table: a row per team, month and currency."""
    return [
        {
            "month": month,
            "team_id": team_id,
            "team": teams.get(team_id),
            "currency": currency,
            "invoices": count,
            "billed": format_amount(round_minor(total), currency),
        }
        for (month, team_id, currency), (count, total) in sorted(revenue.items())
    ]
