"""SQL pieces that differ between SQLite and PostgreSQL: calendar buckets,
whole seconds between two times, and percentiles over groups.

Every bucket is taken in UTC. Percentiles are nearest-rank, the same rule
whether the database ranks the values with window functions (``spread_by``,
one row per group) or a report ranks values it fetched (``nearest_rank``).
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

# Nearest-rank percentiles: the value at 1-based rank ceil(p * n / 100).
MEDIAN, P90 = 50, 90


def month_of(column: ColumnElement, dialect: str) -> ColumnElement[str]:
    """``2026-03`` for any time in March 2026 (UTC)."""
    if dialect == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM")
    # SQLite keeps UTC times as text ("2026-03-14 09:26:00.000000"): the
    # first seven characters are the month, and cutting them is several
    # times cheaper per row than strftime.
    return sa.func.substr(column, 1, 7)


def week_of(column: ColumnElement, dialect: str) -> ColumnElement[str]:
    """The Monday (``2026-03-09``) of the ISO week a time falls in (UTC)."""
    if dialect == "postgresql":
        monday = sa.func.date_trunc("week", sa.func.timezone("UTC", column))
        return sa.func.to_char(monday, "YYYY-MM-DD")
    # 'weekday 0' moves forward to the next Sunday (or stays on one); six days
    # back from it is that week's Monday.
    return sa.func.date(column, "weekday 0", "-6 days")


def epoch_seconds(column: ColumnElement, dialect: str) -> ColumnElement[int]:
    """Whole seconds since 1970 (fractions dropped), as an integer."""
    if dialect == "postgresql":
        epoch = sa.func.floor(sa.extract("epoch", column))
        return sa.cast(epoch, sa.BigInteger)
    # unixepoch() (SQLite 3.38+) is an integer already, and cheaper than
    # strftime('%s').
    return sa.func.unixepoch(column)


def seconds_between(
    start: ColumnElement, end: ColumnElement, dialect: str
) -> ColumnElement[int]:
    return epoch_seconds(end, dialect) - epoch_seconds(start, dialect)


def _rank(percent: int, count: ColumnElement[int]) -> ColumnElement[int]:
    # ceil(p * n / 100) in integer arithmetic, the same on both databases.
    return (count * percent + 99) // 100


def nearest_rank(ordered: Sequence[int], percent: int) -> int | None:
    """The ``percent``-th percentile of ``ordered`` (ascending), or None."""
    if not ordered:
        return None
    return ordered[(len(ordered) * percent + 99) // 100 - 1]


def spread_by(source: sa.Select, keys: Sequence[str], value: str) -> sa.Select:
    """Per group of ``keys`` in ``source``: ``rows`` (all of them), and over
    the rows whose ``value`` (an integer column) is not NULL: ``count``,
    ``total``, and the nearest-rank ``median`` and ``p90``.

    The rows are numbered within each group in value order, NULLs last; the
    median and p90 are the values at their nearest ranks.
    """
    # Materialised, so a costly value (a correlated lookup) is computed once
    # per row rather than once per place the ranking refers to it.
    rows = source.cte("spread_rows").prefix_with("MATERIALIZED")
    group = [rows.c[k] for k in keys]
    in_order = rows.c[value].asc().nulls_last()
    ranked = sa.select(
        *group,
        rows.c[value].label("v"),
        sa.func.row_number().over(partition_by=group, order_by=in_order).label("rn"),
        sa.func.count(rows.c[value]).over(partition_by=group).label("n"),
    ).subquery("spread_ranked")
    by = [ranked.c[k] for k in keys]
    v, rn, n = ranked.c.v, ranked.c.rn, ranked.c.n
    return sa.select(
        *by,
        sa.func.count().label("rows"),
        sa.func.count(v).label("count"),
        sa.func.sum(v).label("total"),
        sa.func.max(sa.case((rn == _rank(MEDIAN, n), v))).label("median"),
        sa.func.max(sa.case((rn == _rank(P90, n), v))).label("p90"),
    ).group_by(*by)


# SQLite groups by sorting every row of the range. Past this share of the
# table, reading a whole index already in group order is cheaper: about
# seven times cheaper a row, measured at a million credits.
WHOLE_INDEX_SHARE = 7


def most_of_the_table(
    session: Session,
    id_column: ColumnElement,
    at: ColumnElement,
    start: datetime,
    end: datetime,
) -> bool:
    """Whether rows with ``at`` in [start, end) are more than a seventh of the
    table, judged by ids (they grow with time): three index lookups."""

    def first_id_from(moment: datetime) -> int | None:
        return session.scalar(
            sa.select(id_column).where(at >= moment).order_by(at).limit(1)
        )

    last = session.scalar(sa.select(sa.func.max(id_column))) or 0
    first = first_id_from(start)
    if first is None:
        return False
    after = first_id_from(end) or last + 1
    return (after - first) * WHOLE_INDEX_SHARE > last


def off_its_index(column: ColumnElement) -> ColumnElement:
    """``column`` wrapped so SQLite will not read a range of it from an index
    (coalesce of itself is itself), leaving the planner free to read an index
    in group order instead."""
    return sa.func.coalesce(column, column)
