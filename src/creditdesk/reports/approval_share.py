"""The share of credits that needed approval, by team and month, with the
approval turnaround (see docs/reports.md)."""

from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from creditdesk.access.visibility import credit_visible
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.reports import rounding, spans
from creditdesk.reports.filters import credit_matches
from creditdesk.reports.scope import Report, Scope
from creditdesk.reports.spread import Spread, counted, spread
from creditdesk.reports.sql import seconds_between
from creditdesk.reports.tally import team_names


def approval_share(session: Session, scope: Scope) -> Report:
    """Credits raised per team and month, how many needed approval, and how
    long from the first approval request to the final decision."""
    groups = [
        (row.team_id, row.span, row.credits, *_approvals(row, scope))
        for row in session.execute(_per_team_and_month(session, scope))
        if row.credits
    ]
    teams = team_names(session, (group[0] for group in groups))
    rows = []
    for team, month, count, needing, figures in sorted(
        groups, key=lambda g: (g[1], g[0] or 0)
    ):
        rows.append(
            {
                "month": month,
                "team_id": team,
                "team": teams.get(team),
                "credits": count,
                "needing_approval": needing,
                "share_percent": percent(needing, count),
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


def _approvals(row: sa.Row, scope: Scope) -> tuple[int, Spread]:
    # How many needed approval, and the spread of the decided ones' times.
    if scope.summary:
        return row.needing, counted(row.decided)
    turnarounds = list(spans.parsed(row.turnarounds))
    return len(turnarounds), spread(turnarounds)


def _per_team_and_month(session: Session, scope: Scope) -> sa.CompoundSelect:
    # Per team and month: the credits raised, and the turnaround of each that
    # went to approval, the seconds from its first request to its final
    # decision (an empty place while undecided), kept on the credit.
    c = BillingCredit
    filters = scope.filters
    table = spans.SpanTable(spans.months(filters.start, filters.end), c.created_at.type)
    seconds = seconds_between(c.approval_requested_at, c.decided_at, scope.dialect)
    # Built once: finding the caller's sharing rules is a query of its own.
    visible = credit_visible(session, scope.user)

    def values(team: sa.ColumnElement[bool]) -> list[sa.ScalarSelect]:
        where = [
            team,
            *table.within(c.created_at),
            c.status != CreditStatus.DRAFT,
            visible,
            *credit_matches(filters, c),
        ]
        raised = sa.select(sa.func.count()).where(*where)
        requested = [*where, c.approval_requested_at.is_not(None)]
        if scope.summary:
            needing = sa.select(sa.func.count()).where(*requested)
            decided = sa.select(sa.func.count(c.decided_at)).where(*requested)
            return [
                raised.scalar_subquery().label("credits"),
                needing.scalar_subquery().label("needing"),
                decided.scalar_subquery().label("decided"),
            ]
        turnarounds = sa.select(spans.joined(seconds, scope.dialect))
        return [
            raised.scalar_subquery().label("credits"),
            turnarounds.where(*requested).scalar_subquery().label("turnarounds"),
        ]

    return table.per_team(c.team_id, values)
