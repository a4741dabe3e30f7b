"""SQL pieces that differ between SQLite and PostgreSQL: calendar months,
whole seconds between two times, and how SQLite reads a long range.

Every bucket is taken in UTC.
"""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement


def month_of(column: ColumnElement, dialect: str) -> ColumnElement[str]:
    """``2026-03`` for any time in March 2026 (UTC)."""
    if dialect == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM")
    # SQLite keeps UTC times as text ("2026-03-14 09:26:00.000000"): the
    # first seven characters are the month, and cutting them is several
    # times cheaper per row than strftime.
    return sa.func.substr(column, 1, 7)


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
