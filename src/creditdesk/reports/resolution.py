"""Time to resolution of billing cases, by team and week (see
docs/reports.md), and the case queries the ROI report shares."""

from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from creditdesk.access.visibility import case_visible
from creditdesk.cases.models import Case, CaseType
from creditdesk.credits.models import BillingCredit
from creditdesk.reports import rounding
from creditdesk.reports.scope import Report, Scope
from creditdesk.reports.sql import seconds_between, spread_by, week_of
from creditdesk.reports.tally import team_names


def resolution_time(session: Session, scope: Scope) -> Report:
    """Billing cases resolved in the range: median, p90 and mean seconds from
    opened to resolved, per team and per week resolved."""
    source = sa.select(
        Case.team_id,
        week_of(Case.resolved_at, scope.dialect).label("week"),
        _seconds(scope).label("seconds"),
    ).where(*resolved_cases(session, scope, billing_only=True))
    spreads = list(session.execute(spread_by(source, ["team_id", "week"], "seconds")))
    teams = team_names(session, (row.team_id for row in spreads))
    rows = [
        {
            "week": row.week,
            "team_id": row.team_id,
            "team": teams.get(row.team_id),
            "resolved": row.count,
            "median_seconds": row.median,
            "p90_seconds": row.p90,
            "mean_seconds": mean(row.total, row.count),
        }
        for row in sorted(spreads, key=lambda r: (r.week, r.team_id or 0))
    ]
    report = Report("resolution-time", "Time to resolution of billing cases", scope)
    report.tables = {"by_team_week": rows}
    return report


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
