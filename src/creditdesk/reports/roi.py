"""ROI: the process's figures beside the baselines it is meant to beat (see
docs/reports.md and :mod:`.settings`)."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from creditdesk.access.visibility import credit_visible
from creditdesk.approvals.calendar import BusinessCalendar
from creditdesk.approvals.deadlines import calendar_for
from creditdesk.approvals.models import WorkItem, WorkItemKind
from creditdesk.cases.models import Case
from creditdesk.credits.models import BillingCredit
from creditdesk.money import format_amount
from creditdesk.reconciliation.models import (
    FindingKind,
    ReconciliationFinding,
    ReconciliationRun,
    RunStatus,
)
from creditdesk.reports.filters import Filters, credit_matches
from creditdesk.reports.rates import round_minor
from creditdesk.reports.resolution import resolved_cases
from creditdesk.reports.rounding import two_places
from creditdesk.reports.scope import Report, Scope
from creditdesk.reports.settings import RoiBaselines
from creditdesk.reports.sql import month_of, seconds_between
from creditdesk.users.models import User

_DAY = Decimal(86_400)

UNTRACKED_NOTE = (
    "Untracked credits are found by reconciliation for the whole organisation: "
    "they are left out when the report is narrowed by team, agent, product or "
    "reason, and for roles that may not read reconciliation."
)


def roi(session: Session, scope: Scope) -> Report:
    """Resolution days, manual errors a month, untracked value a year and
    cases per agent per working day, each beside its baseline."""
    baselines = scope.baselines
    errors = _manual_errors(session, scope)
    months_total = sum(row["total"] for row in errors)
    summary = [
        _resolution(session, scope, baselines),
        _measure(
            "manual_errors_per_month",
            "errors",
            per_month(months_total, scope.filters),
            baselines.manual_errors_per_month,
        ),
        _productivity(session, scope, baselines),
    ]
    report = Report("roi", "Return on investment", scope)
    report.tables = {"summary": summary, "manual_errors_by_month": errors}
    if _shows_untracked(scope):
        report.tables["untracked_per_year"] = _untracked(session, scope, baselines)
    report.notes = [UNTRACKED_NOTE]
    return report


def _measure(
    name: str, unit: str, value: Decimal | None, baseline: Decimal
) -> dict[str, Any]:
    return {
        "measure": name,
        "unit": unit,
        "value": two_places(value) if value is not None else None,
        "baseline": two_places(baseline),
        "difference": two_places(value - baseline) if value is not None else None,
    }


def per_month(total: int, filters: Filters) -> Decimal:
    """A count over the range as a rate per month (a twelfth of 365 days)."""
    return Decimal(total * 365) / Decimal(12 * filters.days)


def working_days(filters: Filters, calendar: BusinessCalendar) -> int:
    """The days in the range that ``calendar`` opens on: a weekday of its
    working week that is not one of its holidays."""
    days = (filters.date_from + timedelta(days=i) for i in range(filters.days))
    return sum(
        1
        for day in days
        if day.weekday() in calendar.week and day not in calendar.holidays
    )


def _resolution(
    session: Session, scope: Scope, baselines: RoiBaselines
) -> dict[str, Any]:
    seconds = seconds_between(Case.opened_at, Case.resolved_at, scope.dialect)
    count, total = session.execute(
        sa.select(sa.func.count(), sa.func.sum(seconds)).where(
            *resolved_cases(session, scope, billing_only=True)
        )
    ).one()
    mean = Decimal(total) / count / _DAY if count else None
    return _measure("resolution_days", "days", mean, baselines.resolution_days)


def _productivity(
    session: Session, scope: Scope, baselines: RoiBaselines
) -> dict[str, Any]:
    # Per owner's team: each agent works the days their team's calendar
    # opens on (the default calendar for a team without one, or no team).
    per_team = session.execute(
        sa.select(
            User.team_id,
            sa.func.count(),
            sa.func.count(sa.distinct(Case.owner_id)),
        )
        .join(User, User.id == Case.owner_id)
        .where(*resolved_cases(session, scope, billing_only=False))
        .group_by(User.team_id)
    ).all()
    resolved = sum(cases for _, cases, _ in per_team)
    days = sum(
        agents * working_days(scope.filters, calendar_for(session, team_id))
        for team_id, _, agents in per_team
    )
    rate = Decimal(resolved) / days if days else None
    return _measure(
        "cases_per_agent_per_working_day", "cases", rate, baselines.cases_per_agent_day
    )


def _manual_errors(session: Session, scope: Scope) -> list[dict[str, Any]]:
    failures = dict(session.execute(_failures(session, scope)).all())
    mismatches = dict(session.execute(_mismatches(session, scope)).all())
    rows = []
    for month in sorted(failures.keys() | mismatches.keys()):
        failed, mismatched = failures.get(month, 0), mismatches.get(month, 0)
        rows.append(
            {
                "month": month,
                "posting_failures": failed,
                "reconciliation_mismatches": mismatched,
                "total": failed + mismatched,
            }
        )
    return rows


def _credit_clauses(session: Session, scope: Scope) -> list:
    # The range is on the error's own time, not the credit's.
    return [
        credit_visible(session, scope.user),
        *credit_matches(scope.filters, BillingCredit),
    ]


def _failures(session: Session, scope: Scope) -> sa.Select:
    filters, w = scope.filters, WorkItem
    month = month_of(w.assigned_at, scope.dialect).label("month")
    rows = (
        sa.select(month)
        .join(BillingCredit, BillingCredit.id == w.credit_id)
        .where(
            w.kind == WorkItemKind.POSTING_FAILED,
            w.assigned_at >= filters.start,
            w.assigned_at < filters.end,
            *_credit_clauses(session, scope),
        )
        .subquery("failures")
    )
    return sa.select(rows.c.month, sa.func.count()).group_by(rows.c.month)


def _mismatches(session: Session, scope: Scope) -> sa.Select:
    filters, f, run = scope.filters, ReconciliationFinding, ReconciliationRun
    month = month_of(run.started_at, scope.dialect).label("month")
    rows = (
        sa.select(month)
        .select_from(f)
        .join(run, run.id == f.run_id)
        .join(BillingCredit, BillingCredit.id == f.credit_id)
        .where(
            f.kind == FindingKind.MISMATCHED,
            run.started_at >= filters.start,
            run.started_at < filters.end,
            *_credit_clauses(session, scope),
        )
        .subquery("mismatches")
    )
    return sa.select(rows.c.month, sa.func.count()).group_by(rows.c.month)


def _shows_untracked(scope: Scope) -> bool:
    return (
        scope.amounts
        and scope.reads_reconciliation
        and not scope.filters.narrows_credits()
    )


def _untracked(
    session: Session, scope: Scope, baselines: RoiBaselines
) -> list[dict[str, Any]]:
    """Untracked value found in the range, a year's worth, per currency (or
    converted), beside the baseline."""
    tally = scope.tally()
    for row in session.execute(_untracked_query(scope)):
        tally.add((), row.currency, row.period, row.count, row.total, row.first_at)
    baseline = baselines.untracked_minor_per_year
    base_currency = baselines.untracked_currency
    rows = []
    for row in tally.all_rows(()):
        exact = tally.exact((), row["currency"])
        found = round_minor(exact)
        yearly = round_minor(exact * 365 / scope.filters.days)
        same = row["currency"] == base_currency
        rows.append(
            {
                "currency": row["currency"],
                "findings": row["count"],
                "found": format_amount(found, row["currency"]),
                "per_year": format_amount(yearly, row["currency"]),
                "baseline_per_year": format_amount(baseline, base_currency),
                "baseline_currency": base_currency,
                "difference": format_amount(yearly - baseline, base_currency)
                if same
                else None,
            }
        )
    return rows


def _untracked_query(scope: Scope) -> sa.Select:
    filters, f, run = scope.filters, ReconciliationFinding, ReconciliationRun
    period = (
        scope.book.period_key(f.vendor_currency, run.started_at)
        if scope.book
        else sa.null()
    )
    where = [
        f.kind == FindingKind.UNTRACKED,
        f.vendor_amount_minor.is_not(None),
        run.status == RunStatus.COMPLETED,
        run.started_at >= filters.start,
        run.started_at < filters.end,
    ]
    if filters.currency is not None:
        where.append(f.vendor_currency == filters.currency)
    rows = (
        sa.select(
            f.vendor_currency.label("currency"),
            period.label("period"),
            f.vendor_amount_minor.label("amount"),
            run.started_at,
        )
        .join(run, run.id == f.run_id)
        .where(*where)
        .subquery("untracked")
    )
    keys = [rows.c.currency, rows.c.period]
    return sa.select(
        *keys,
        sa.func.count().label("count"),
        sa.func.sum(rows.c.amount).label("total"),
        sa.func.min(rows.c.started_at).label("first_at"),
    ).group_by(*keys)
