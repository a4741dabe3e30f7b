"""The share of credits that needed approval, by team and month, with the
approval turnaround (see docs/reports.md)."""

from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from creditdesk.access.visibility import credit_visible
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.reports import rounding
from creditdesk.reports.filters import on_credits
from creditdesk.reports.scope import Report, Scope
from creditdesk.reports.sql import month_of, seconds_between, spread_by
from creditdesk.reports.tally import team_names


def approval_share(session: Session, scope: Scope) -> Report:
    """Credits raised per team and month, how many needed approval, and how
    long from the first approval request to the final decision."""
    raised = {
        (row.team_id, row.month): row.count
        for row in session.execute(_raised(session, scope))
    }
    spreads = {
        (row.team_id, row.month): row
        for row in session.execute(_turnaround(session, scope))
    }
    teams = team_names(session, (team for team, _ in raised))
    rows = []
    for team, month in sorted(raised, key=lambda k: (k[1], k[0] or 0)):
        count = raised[(team, month)]
        spread = spreads.get((team, month))
        needing = spread.rows if spread else 0
        rows.append(
            {
                "month": month,
                "team_id": team,
                "team": teams.get(team),
                "credits": count,
                "needing_approval": needing,
                "share_percent": percent(needing, count),
                "decided": spread.count if spread else 0,
                "turnaround_median_seconds": spread.median if spread else None,
                "turnaround_p90_seconds": spread.p90 if spread else None,
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


def _where(session: Session, scope: Scope) -> list:
    c = BillingCredit
    return [
        c.status != CreditStatus.DRAFT,
        credit_visible(session, scope.user),
        *on_credits(scope.filters, c, day=c.created_at),
    ]


def _raised(session: Session, scope: Scope) -> sa.Select:
    c = BillingCredit
    rows = (
        sa.select(c.team_id, month_of(c.created_at, scope.dialect).label("month"))
        .where(*_where(session, scope))
        .subquery("raised")
    )
    keys = [rows.c.team_id, rows.c.month]
    return sa.select(*keys, sa.func.count().label("count")).group_by(*keys)


def _turnaround(session: Session, scope: Scope) -> sa.Select:
    # One row per credit that went to approval: the seconds from its first
    # request to its final decision (NULL while undecided), both kept on the
    # credit, so the range is read from the covering index alone.
    c = BillingCredit
    seconds = seconds_between(c.approval_requested_at, c.decided_at, scope.dialect)
    source = sa.select(
        c.team_id,
        month_of(c.created_at, scope.dialect).label("month"),
        seconds.label("seconds"),
    ).where(c.approval_requested_at.is_not(None), *_where(session, scope))
    return spread_by(source, ["team_id", "month"], "seconds")
