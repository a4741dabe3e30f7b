"""Reading a report one team and one calendar span (a month, a week) at a time.

Grouping a year of rows by team and month makes SQLite sort them all, and a
duration's percentiles need every value of a group. Asked instead for each
team and span in turn, with a correlated subquery over an index in team and
time order, the database reads one range of the index per group and sorts
nothing, and a group's durations come back as one comma-separated string, so
Python holds a few hundred strings rather than a row object per value.

Spans are taken in UTC and cut to the report's range.
"""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from creditdesk.users.models import Team

Span = tuple[str, datetime, datetime]  # label, first instant, first one after
Values = Callable[[ColumnElement[bool]], list[sa.ScalarSelect]]


def months(start: datetime, end: datetime) -> list[Span]:
    """The calendar months [start, end) touches, labelled ``2026-03``."""
    spans = []
    lo = start
    while lo < end:
        year, month = (lo.year, lo.month + 1) if lo.month < 12 else (lo.year + 1, 1)
        hi = min(datetime(year, month, 1, tzinfo=UTC), end)
        spans.append((f"{lo:%Y-%m}", lo, hi))
        lo = hi
    return spans


def weeks(start: datetime, end: datetime) -> list[Span]:
    """The ISO weeks [start, end) touches, labelled by their Monday."""
    spans = []
    monday = datetime.combine(start.date(), datetime.min.time(), UTC)
    monday -= timedelta(days=monday.weekday())
    while monday < end:
        after = monday + timedelta(days=7)
        spans.append((monday.date().isoformat(), max(monday, start), min(after, end)))
        monday = after
    return spans


class SpanTable:
    """The spans as a table the query reads them from (``span``, ``lo``,
    ``hi``), crossed with every team, and for no team."""

    def __init__(self, spans: list[Span], at: TypeEngine) -> None:
        rows = [
            sa.select(
                sa.literal(label).label("span"),
                sa.literal(lo, at).label("lo"),
                sa.literal(hi, at).label("hi"),
            )
            for label, lo, hi in spans
        ]
        self.table = (sa.union_all(*rows) if len(rows) > 1 else rows[0]).cte("spans")

    def within(self, at: ColumnElement) -> list[ColumnElement[bool]]:
        """``at`` in the span of the row being read."""
        return [at >= self.table.c.lo, at < self.table.c.hi]

    def per_team(self, team: ColumnElement, values: Values) -> sa.CompoundSelect:
        """One row per team (and for no team) and span: ``team_id``,
        ``span``, then ``values(clause)``: subqueries that keep to
        ``within`` and to the clause naming the row's team."""
        table = self.table
        every_span = sa.true()  # each team with each span: a cross join
        per_team = sa.select(
            Team.id.label("team_id"), table.c.span, *values(team == Team.id)
        ).join_from(Team, table, every_span)
        no_team = sa.select(
            sa.null().label("team_id"), table.c.span, *values(team.is_(None))
        ).select_from(table)
        return sa.union_all(per_team, no_team)


def joined(value: ColumnElement, dialect: str) -> ColumnElement[str]:
    """A group's values as one string, ``7200,,86400`` (NULL as an empty
    place, no row at all as NULL), in no particular order."""
    text = sa.func.coalesce(sa.cast(value, sa.Text), "")
    if dialect == "postgresql":
        return sa.func.string_agg(text, ",")
    return sa.func.group_concat(text, ",")


def parsed(text: str | None) -> Iterator[int | None]:
    """The values of ``joined``: an empty place is None."""
    if text is None:
        return
    for part in text.split(","):
        yield int(part) if part else None
