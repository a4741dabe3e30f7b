"""Time to resolution of billing cases, by team and week (see
docs/reports.md), and the case queries the ROI report shares."""

from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from creditdesk.access.visibility import case_visible
from creditdesk.cases.models import Case, CaseType
from creditdesk.credits.models import BillingCredit
from creditdesk.reports import rounding
from creditdesk.reports.scope import Report, Scope
from creditdesk.reports.spread import grouped, spread
from creditdesk.reports.sql import epoch_seconds, seconds_between
from creditdesk.reports.tally import team_names

EPOCH = date(1970, 1, 1)


def resolution_time(session: Session, scope: Scope) -> Report:
    """Billing cases resolved in the range: median, p90 and mean seconds from
    opened to resolved, per team and per week resolved."""
    query = sa.select(
        Case.team_id,
        epoch_seconds(Case.resolved_at, scope.dialect),
        _seconds(scope),
    ).where(*resolved_cases(session, scope, billing_only=True))
    # Keyed by the Monday's day number: a date is made once per week, not
    # once per case.
    weeks = grouped(
        ((team, _monday(resolved)), seconds)
        for team, resolved, seconds in session.connection().execute(query).all()
    )
    teams = team_names(session, (team for team, _ in weeks))
    rows = []
    for team, monday in sorted(weeks, key=lambda k: (k[1], k[0] or 0)):
        figures = spread(weeks[(team, monday)])
        rows.append(
            {
                "week": (EPOCH + timedelta(days=monday)).isoformat(),
                "team_id": team,
                "team": teams.get(team),
                "resolved": figures.count,
                "median_seconds": figures.median,
                "p90_seconds": figures.p90,
                "mean_seconds": mean(figures.total, figures.count),
            }
        )
    report = Report("resolution-time", "Time to resolution of billing cases", scope)
    report.tables = {"by_team_week": rows}
    return report


def _monday(epoch_seconds: int) -> int:
    """The day number (since 1970) of the Monday of the ISO week, in UTC, that
    a time falls in; 1 January 1970 was a Thursday."""
    day = epoch_seconds // 86_400
    return day - (day + 3) % 7


def mean(total: int | None, count: int) -> int | None:
    """Whole seconds, half to even."""
    if not count or total is None:
        return None
    value = Decimal(total) / count
    return rounding.whole(value)


def _seconds(scope: Scope) -> sa.ColumnElement[int]:
    return seconds_between(Case.opened_at, Case.resolved_at, scope.dialect)


def resolved_cases(
    session: Session, scope: Scope, *, billing_only: bool
) -> list[sa.ColumnElement[bool]]:
    """WHERE clauses on Case: resolved in the range, visible, filtered."""
    filters = scope.filters
    clauses = [
        Case.resolved_at >= filters.start,
        Case.resolved_at < filters.end,
        case_visible(session, scope.user),
    ]
    if billing_only:
        clauses.append(Case.type == CaseType.BILLING_DISPUTE)
    pairs = (
        (Case.team_id, filters.team_id),
        (Case.owner_id, filters.agent_id),
        (Case.product, filters.product),
        (Case.currency, filters.currency),
    )
    clauses += [column == value for column, value in pairs if value is not None]
    if filters.reason is not None:
        # A case has no reason of its own: it takes those of its credits.
        with_reason = sa.select(BillingCredit.case_id).where(
            BillingCredit.reason == filters.reason
        )
        clauses.append(Case.id.in_(with_reason))
    return clauses
