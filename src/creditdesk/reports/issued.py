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
_KEYS = (*_DIMENSIONS, "currency")
GROUPED_INDEX = "ix_billing_credits_report_grouped"  # see credits.models


def credits_issued(
    session: Session, scope: Scope, *, whole_index: bool | None = None
) -> Report:
    """The credits issued in the range, overall and grouped four ways (by
    team alone for a summary).

    ``whole_index`` chooses how SQLite reads them (see ``_grouped``); by
    default it is chosen by how much of the table the range holds.
    """
    dimensions = _DIMENSIONS[:1] if scope.summary else _DIMENSIONS
    tallies = {name: scope.tally() for name in ("overall", *dimensions)}
    for row in session.execute(_grouped(session, scope, whole_index)):
        amount = (row.currency, row.period, row.count, row.total, row.first_at)
        tallies["overall"].add((), *amount)
        for name in dimensions:
            tallies[name].add((getattr(row, name),), *amount)

    report = Report("credits-issued", "Credits issued", scope)
    report.tables = {"overall": tallies["overall"].all_rows(())}
    teams = team_names(session, (k[0] for k in tallies["team_id"].groups()))
    report.tables["by_team"] = _named(tallies["team_id"], "team", teams)
    if scope.summary:
        return report

    agents = user_names(session, (k[0] for k in tallies["agent_id"].groups()))
    report.tables |= {
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
    names = _KEYS
    if scope.summary and not (scope.dialect == "sqlite" and whole_index):
        # A summary needs teams alone. SQLite reading the whole index in
        # order still groups by all of it: it would sort the rows for fewer.
        names = ("team_id", "currency")
    keys = [rows.c[name] for name in names]
    if scope.book:
        keys.append(rows.c.period)
    return sa.select(
        *(rows.c[name] if name in names else _null(name) for name in _KEYS),
        rows.c.period if scope.book else _null("period"),
        sa.func.count().label("count"),
        sa.func.sum(rows.c.amount_minor).label("total"),
        # Only a conversion needs it, and reading a time costs a parse a row.
        sa.func.min(rows.c.created_at).label("first_at")
        if scope.book
        else _null("first_at"),
    ).group_by(*keys)


def _null(name: str) -> sa.Label:
    return sa.null().label(name)
