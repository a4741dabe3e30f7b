"""The share of credits that needed approval, by team and month, with the
approval turnaround (see docs/reports.md)."""

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from creditdesk.access.visibility import credit_visible
from creditdesk.credits.models import BillingCredit, CreditStatus, utc_month
from creditdesk.reports import rounding
from creditdesk.reports.filters import credit_matches, on_credits
from creditdesk.reports.scope import Report, Scope
from creditdesk.reports.spread import grouped, spread
from creditdesk.reports.sql import month_of, seconds_between
from creditdesk.reports.tally import team_names
from creditdesk.users.models import Team

Group = tuple[int | None, str]  # (team id, month)


def approval_share(session: Session, scope: Scope) -> Report:
    """Credits raised per team and month, how many needed approval, and how
    long from the first approval request to the final decision."""
    raised = _raised(session, scope)
    turnarounds = _turnarounds(session, scope)
    teams = team_names(session, (team for team, _ in raised))
    rows = []
    for team, month in sorted(raised, key=lambda k: (k[1], k[0] or 0)):
        count = raised[(team, month)]
        seconds = turnarounds.get((team, month), [])
        figures = spread(seconds)
        rows.append(
            {
                "month": month,
                "team_id": team,
                "team": teams.get(team),
                "credits": count,
                "needing_approval": len(seconds),
                "share_percent": percent(len(seconds), count),
                "decided": figures.count,
                "turnaround_median_seconds": figures.median,
                "turnaround_p90_seconds": figures.p90,
            }
        )
    report = Report("approval-share", "Credits needing approval", scope)
    report.tables = {"by_team_month": rows}
    return report


def percent(part: int, whole: int) -> str | None:
    """``part`` of ``whole`` in percent, two places, half to even."""
    if not whole:
        return None
    value = Decimal(part * 100) / Decimal(whole)
    return rounding.two_places(value)


def _raised(session: Session, scope: Scope) -> dict[Group, int]:
    # Grouping half a million credits by team and month would sort them all
    # (SQLite cannot hash). Counted one team and month at a time instead,
    # each a range of the index in team and time order, no row is sorted.
    c = BillingCredit
    months = _months(scope).cte("months")

    def count(team: sa.ColumnElement[bool]) -> sa.ScalarSelect[int]:
        return (
            sa.select(sa.func.count())
            .where(
                team,
                c.created_at >= months.c.lo,
                c.created_at < months.c.hi,
                c.status != CreditStatus.DRAFT,
                credit_visible(session, scope.user),
                *credit_matches(scope.filters, c),
            )
            .scalar_subquery()
        )

    every_month = sa.true()  # each team with each month: a cross join
    per_team = sa.select(
        Team.id, months.c.month, count(c.team_id == Team.id)
    ).join_from(Team, months, every_month)
    no_team = sa.select(sa.null(), months.c.month, count(c.team_id.is_(None)))
    counts = session.execute(sa.union_all(per_team, no_team))
    return {(team, month): n for team, month, n in counts if n}


def _months(scope: Scope) -> sa.CompoundSelect | sa.Select:
    """The calendar months (UTC) the range touches, each cut to the range:
    ``month``, ``lo`` (first instant) and ``hi`` (first instant after)."""
    at = BillingCredit.created_at.type
    parts = [
        sa.select(
            sa.literal(utc_month(lo)).label("month"),
            sa.literal(lo, at).label("lo"),
            sa.literal(hi, at).label("hi"),
        )
        for lo, hi in _month_spans(scope.filters.start, scope.filters.end)
    ]
    return sa.union_all(*parts) if len(parts) > 1 else parts[0]


def _month_spans(start: datetime, end: datetime) -> Iterator[tuple[datetime, ...]]:
    lo = start
    while lo < end:
        year, month = (lo.year, lo.month + 1) if lo.month < 12 else (lo.year + 1, 1)
        hi = min(datetime(year, month, 1, tzinfo=UTC), end)
        yield lo, hi
        lo = hi


def _turnarounds(session: Session, scope: Scope) -> dict[Group, list[int | None]]:
    # One value per credit that went to approval: the seconds from its first
    # request to its final decision (None while undecided), read from the
    # covering index; ranked a group at a time (see reports.spread).
    c = BillingCredit
    seconds = seconds_between(c.approval_requested_at, c.decided_at, scope.dialect)
    query = sa.select(c.team_id, month_of(c.created_at, scope.dialect), seconds).where(
        c.approval_requested_at.is_not(None),
        c.status != CreditStatus.DRAFT,
        credit_visible(session, scope.user),
        *on_credits(scope.filters, c, day=c.created_at),
    )
    # Fetched at once: row by row, psycopg is asked for each row in turn.
    rows = session.connection().execute(query).all()
    return grouped(((team, month), value) for team, month, value in rows)
