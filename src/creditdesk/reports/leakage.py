"""Monthly credit leakage by team: credits posted, compliant and flagged, and
their share of the revenue billed to the team's accounts (see docs/reports.md)."""

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from creditdesk.access.visibility import credit_visible
from creditdesk.credits.models import BillingCredit, CreditStatus, utc_month
from creditdesk.reports.filters import on_credits
from creditdesk.reports.revenue import billed, revenue_rows, share_columns
from creditdesk.reports.scope import Report, Scope
from creditdesk.reports.sql import month_of, most_of_the_table, off_its_index
from creditdesk.reports.tally import team_names

VOIDED = (CreditStatus.VOIDING, CreditStatus.VOIDED)
GROUPED_INDEX = "ix_billing_credits_report_posted_grouped"  # credits.models
CATEGORIES = ("posted", "compliant", "flagged", "near_duplicate", "over_cap", "voided")

REVENUE_NOTE = (
    "share_percent is the credits' total as a share of the revenue billed that "
    "month to the team's accounts (invoices recorded in creditdesk), in the "
    "same currency; it is null where no such invoice is recorded."
)


def leakage(
    session: Session, scope: Scope, *, whole_index: bool | None = None
) -> Report:
    """Credits posted per team and month, split into compliant and flagged;
    a flagged credit also counts under each flag it carries.

    ``whole_index`` chooses how SQLite reads them (see ``_grouped``); by
    default it is chosen by how much of the table the range holds.
    """
    tally = scope.tally()
    for row in session.execute(_grouped(session, scope, whole_index)):
        flags = _flags(row)
        amount = (row.currency, row.period, row.count, row.total, row.first_at)
        for category in ("posted", "flagged" if flags else "compliant", *flags):
            tally.add((row.month, row.team_id, category), *amount)

    revenue = billed(session, scope)
    team_ids = [key[1] for key in tally.groups()]
    teams = team_names(session, [*team_ids, *(k[1] for k in revenue or ())])
    order = {name: i for i, name in enumerate(CATEGORIES)}
    keys = sorted(tally.groups(), key=lambda k: (k[0], k[1] or 0, order[k[2]]))
    rows = []
    for key in keys:
        head = {"month": key[0], "team_id": key[1], "team": teams.get(key[1])}
        for row in tally.rows(("month", "team_id", "category"), key):
            shares = {} if revenue is None else share_columns(row, key, tally, revenue)
            rows.append(head | row | shares)
    report = Report("leakage", "Monthly credit leakage", scope)
    report.tables = {"by_team_month": rows}
    if revenue is not None:
        report.tables["revenue_by_team_month"] = revenue_rows(revenue, teams)
        report.notes = [REVENUE_NOTE]
    return report


def _flags(row: sa.Row) -> list[str]:
    named = (
        ("near_duplicate", row.near_duplicate),
        ("over_cap", row.over_cap),
        ("voided", row.status in VOIDED),
    )
    return [name for name, raised in named if raised]


def _grouped(session: Session, scope: Scope, whole_index: bool | None) -> sa.Select:
    c = BillingCredit
    filters = scope.filters
    day: sa.ColumnElement = c.posted_at
    month: sa.ColumnElement = month_of(c.posted_at, scope.dialect)
    within: list[sa.ColumnElement] = []
    if whole_index is None:
        whole_index = most_of_the_table(
            session, c.id, c.posted_at, filters.start, filters.end
        )
    if scope.dialect == "postgresql":
        # Grouped by the month column, PostgreSQL reads the range off
        # GROUPED_INDEX already in group order: no hash, and no month to
        # format for each row.
        month = c.posted_month
    elif whole_index:
        # The planner then reads GROUPED_INDEX (of a team, its range of
        # months) in the order the grouping follows, with no sort.
        day = off_its_index(c.posted_at)
        month = c.posted_month
        last = filters.end - timedelta(microseconds=1)
        within = [month.between(utc_month(filters.start), utc_month(last))]
    period = scope.book.period_key(c.currency, c.posted_at) if scope.book else sa.null()
    rows = (
        sa.select(
            month.label("month"),
            c.team_id,
            c.currency,
            c.near_duplicate,
            c.over_cap,
            c.status,
            period.label("period"),
            c.amount_minor,
            c.posted_at,
        )
        .where(
            *within,
            c.posted_at.is_not(None),
            credit_visible(session, scope.user),
            *on_credits(scope.filters, c, day=day),
        )
        .subquery("posted")
    )
    # In GROUPED_INDEX's order, the rate period only when converting.
    keys = [
        rows.c.team_id,
        rows.c.month,
        rows.c.currency,
        rows.c.near_duplicate,
        rows.c.over_cap,
        rows.c.status,
    ]
    extra = [rows.c.period] if scope.book else []
    return sa.select(
        *keys,
        *(extra or [sa.null().label("period")]),
        sa.func.count().label("count"),
        sa.func.sum(rows.c.amount_minor).label("total"),
        sa.func.min(rows.c.posted_at).label("first_at")
        if scope.book
        else sa.null().label("first_at"),
    ).group_by(*keys, *extra)
