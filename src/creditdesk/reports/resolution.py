"""Time to resolution of billing cases, by team and week (see
docs/reports.md), and the case queries the ROI report shares."""

from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from creditdesk.access.visibility import case_visible
from creditdesk.cases.models import Case, CaseType
from creditdesk.credits.models import BillingCredit
from creditdesk.reports import rounding, spans
from creditdesk.reports.scope import Report, Scope
from creditdesk.reports.spread import Spread, counted, spread
from creditdesk.reports.sql import seconds_between
from creditdesk.reports.tally import team_names


def resolution_time(session: Session, scope: Scope) -> Report:
    """Billing cases resolved in the range: median, p90 and mean seconds from
    opened to resolved, per team and per week resolved."""
    groups = [
        (row.team_id, row.span, _spread(row, scope))
        for row in session.execute(_per_team_and_week(session, scope))
    ]
    teams = team_names(session, (group[0] for group in groups))
    rows = []
    for team, week, figures in sorted(groups, key=lambda g: (g[1], g[0] or 0)):
        if not figures.count:
            continue
        rows.append(
            {
                "week": week,
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


def _spread(row: sa.Row, scope: Scope) -> Spread:
    if scope.summary:
        return counted(row.resolved)
    return spread(spans.parsed(row.durations))


def _per_team_and_week(session: Session, scope: Scope) -> sa.CompoundSelect:
    filters = scope.filters
    table = spans.SpanTable(
        spans.weeks(filters.start, filters.end), Case.resolved_at.type
    )
    # Built once: finding what the caller may see is a query of its own.
    filtered = case_filters(session, scope, billing_only=True)

    def values(team: sa.ColumnElement[bool]) -> list[sa.ScalarSelect]:
        where = [team, *table.within(Case.resolved_at), *filtered]
        if scope.summary:
            resolved = sa.select(sa.func.count()).where(*where)
            return [resolved.scalar_subquery().label("resolved")]
        durations = sa.select(spans.joined(_seconds(scope), scope.dialect))
        return [durations.where(*where).scalar_subquery().label("durations")]

    return table.per_team(Case.team_id, values)


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
    return [
        Case.resolved_at >= filters.start,
        Case.resolved_at < filters.end,
        *case_filters(session, scope, billing_only=billing_only),
    ]


def case_filters(
    session: Session, scope: Scope, *, billing_only: bool
) -> list[sa.ColumnElement[bool]]:
    """WHERE clauses on Case: visible, and as the filters (but the range) say."""
    filters = scope.filters
    clauses = [case_visible(session, scope.user)]
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
