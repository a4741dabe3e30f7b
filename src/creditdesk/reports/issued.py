"""Credits issued: count, total and average by team, agent, reason and
product (see docs/reports.md)."""

import sqlalchemy as sa
from sqlalchemy.orm import Session

from creditdesk.access.visibility import credit_visible
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.reports.filters import on_credits
from creditdesk.reports.scope import Report, Scope
from creditdesk.reports.sql import most_of_the_table, off_its_index
from creditdesk.reports.tally import Tally, team_names, user_names

S = CreditStatus
# A credit is issued once approved, whatever happened to it after: every
# status but these. The query says NOT IN the rest on purpose: an IN list
# tempts SQLite to read through the status index instead of the date range.
NOT_ISSUED = (
    S.DRAFT,
    S.SUBMITTED,
    S.PENDING_APPROVAL,
    S.REFUSED,
    S.REJECTED,
    S.RECALLED,
)
_DIMENSIONS = ("team_id", "agent_id", "reason", "product")
GROUPED_INDEX = "ix_billing_credits_report_grouped"  # see credits.models


def credits_issued(
    session: Session, scope: Scope, *, whole_index: bool | None = None
) -> Report:
    """The credits issued in the range, grouped four ways and overall.

    ``whole_index`` chooses how SQLite reads them (see ``_grouped``); by
    default it is chosen by how much of the table the range holds.
    """
    tallies = {name: scope.tally() for name in ("overall", *_DIMENSIONS)}
    for row in session.execute(_grouped(session, scope, whole_index)):
        parts = dict(zip(_DIMENSIONS, row[:4], strict=True))
        amount = (row.currency, row.period, row.count, row.total, row.first_at)
        tallies["overall"].add((), *amount)
        for name in _DIMENSIONS:
            tallies[name].add((parts[name],), *amount)

    teams = team_names(session, (k[0] for k in tallies["team_id"].groups()))
    agents = user_names(session, (k[0] for k in tallies["agent_id"].groups()))
    report = Report("credits-issued", "Credits issued", scope)
    report.tables = {
        "overall": tallies["overall"].all_rows(()),
        "by_team": _named(tallies["team_id"], "team", teams),
        "by_agent": _named(tallies["agent_id"], "agent", agents),
        "by_reason": tallies["reason"].all_rows(("reason",)),
        "by_product": tallies["product"].all_rows(("product",)),
    }
    return report


def _named(tally: Tally, what: str, names: dict[int, str]) -> list[dict]:
    rows = []
    for (key,) in tally.groups():
        for row in tally.rows((f"{what}_id",), (key,)):
            rows.append({f"{what}_id": key, what: names.get(key)} | row)
    return rows


def _grouped(session: Session, scope: Scope, whole_index: bool | None) -> sa.Select:
    c = BillingCredit
    filters = scope.filters
    day: sa.ColumnElement = c.created_at
    if whole_index is None:
        whole_index = most_of_the_table(
            session, c.id, c.created_at, filters.start, filters.end
        )
    if scope.dialect == "sqlite" and whole_index:
        # The planner then reads GROUPED_INDEX in group order.
        day = off_its_index(c.created_at)
    period = (
        scope.book.period_key(c.currency, c.created_at) if scope.book else sa.null()
    )
    rows = (
        sa.select(
            c.team_id,
            c.requested_by_id.label("agent_id"),
            c.reason,
            c.product,
            c.currency,
            period.label("period"),
            c.amount_minor,
            c.created_at,
        )
        .where(
            c.status.not_in(NOT_ISSUED),
            credit_visible(session, scope.user),
            *on_credits(filters, c, day=day),
        )
        .subquery("issued")
    )
    # In the grouped index's order; the rate period only when converting (a
    # constant key would stop SQLite reading the groups off the index).
    keys = [
        rows.c.team_id,
        rows.c.agent_id,
        rows.c.reason,
        rows.c.product,
        rows.c.currency,
    ]
    period_column = rows.c.period if scope.book else sa.null().label("period")
    if scope.book:
        keys.append(rows.c.period)
    return sa.select(
        *keys[:5],
        period_column,
        sa.func.count().label("count"),
        sa.func.sum(rows.c.amount_minor).label("total"),
        # Only a conversion needs it, and reading a time costs a parse a row.
        sa.func.min(rows.c.created_at).label("first_at")
        if scope.book
        else sa.null().label("first_at"),
    ).group_by(*keys)
