"""Credits issued: count, total and average by team, agent, reason and
product (see docs/reports.md)."""

import sqlalchemy as sa
from sqlalchemy.orm import Session

from creditdesk.access.visibility import credit_visible
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.reports.filters import on_credits
from creditdesk.reports.scope import Report, Scope
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


def credits_issued(session: Session, scope: Scope) -> Report:
    """The credits issued in the range, grouped four ways and overall."""
    tallies = {name: scope.tally() for name in ("overall", *_DIMENSIONS)}
    for row in session.execute(_grouped(session, scope)):
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


def _grouped(session: Session, scope: Scope) -> sa.Select:
    c = BillingCredit
    filters = scope.filters
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
            *on_credits(filters, c, day=c.created_at),
        )
        .subquery("issued")
    )
    keys = [
        rows.c.team_id,
        rows.c.agent_id,
        rows.c.reason,
        rows.c.product,
        rows.c.currency,
        rows.c.period,
    ]
    return sa.select(
        *keys,
        sa.func.count().label("count"),
        sa.func.sum(rows.c.amount_minor).label("total"),
        sa.func.min(rows.c.created_at).label("first_at"),
    ).group_by(*keys)
