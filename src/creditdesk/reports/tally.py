"""Counts and amounts per group, as a report shows them to one caller.

Amounts are kept per currency and never added across currencies, unless a
rate book converts them into one currency first. For a caller who may not see
amounts only the counts are kept, across currencies.
"""

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from creditdesk.money import format_amount
from creditdesk.reports.rates import RateBook, average_minor, round_minor
from creditdesk.users.models import Team, User

Key = tuple[Any, ...]


@dataclass(slots=True)
class _Cell:
    count: int = 0
    # Integer minor units, unless converted (an exact Decimal).
    total: int | Decimal = 0


class Tally:
    """Adds up grouped rows: ``add(key, currency, period, count, minor, at)``.

    ``book`` converts into its target currency (``period`` is the rate key a
    query grouped by); without one, totals stay per currency. With
    ``amounts=False`` only counts are kept and no currency is shown.
    """

    def __init__(self, *, amounts: bool, book: RateBook | None) -> None:
        self.amounts = amounts
        self.book = book
        self._cells: dict[Key, dict[str | None, _Cell]] = {}

    def add(
        self,
        key: Key,
        currency: str,
        period: int | None,
        count: int,
        minor: int | None,
        first_at: datetime | None,
    ) -> None:
        # Called once per grouped row and dimension: kept to plain steps.
        if not self.amounts:
            bucket, value = None, 0
        elif self.book is None:
            bucket, value = currency, minor or 0
        else:
            assert first_at is not None, "a converted row needs its first time"
            bucket = self.book.target
            value = self.book.convert(currency, period, minor or 0, first_at)
        cells = self._cells.get(key)
        if cells is None:
            cells = self._cells[key] = {}
        cell = cells.get(bucket)
        if cell is None:
            cell = cells[bucket] = _Cell()
        cell.count += count
        cell.total += value

    def exact(self, key: Key, currency: str) -> Decimal:
        """The unrounded total of ``key`` in ``currency`` (minor units)."""
        return Decimal(self._cells[key][currency].total)

    def totals(self) -> Iterator[tuple[Key, str | None, int, Decimal]]:
        """Every (key, currency, count, unrounded total) the tally holds."""
        for key, cells in self._cells.items():
            for bucket, cell in cells.items():
                yield key, bucket, cell.count, Decimal(cell.total)

    def groups(self) -> list[Key]:
        return sorted(self._cells, key=_sortable)

    def rows(self, names: Sequence[str], key: Key) -> list[dict[str, Any]]:
        """One row per currency (or one row) for ``key``, with ``names``
        naming the key's parts."""
        head = dict(zip(names, key, strict=True))
        return [
            head | self._figures(bucket, cell)
            for bucket, cell in sorted(
                self._cells[key].items(), key=lambda item: item[0] or ""
            )
        ]

    def _figures(self, currency: str | None, cell: _Cell) -> dict[str, Any]:
        if currency is None:
            return {"count": cell.count}
        total = round_minor(Decimal(cell.total))
        return {
            "currency": currency,
            "count": cell.count,
            "total": format_amount(total, currency),
            "average": format_amount(average_minor(cell.total, cell.count), currency)
            if cell.count
            else None,
        }

    def all_rows(self, names: Sequence[str]) -> list[dict[str, Any]]:
        return [row for key in self.groups() for row in self.rows(names, key)]


def _sortable(key: Key) -> tuple:
    # None sorts first and never meets an int or str in a comparison.
    return tuple((part is not None, part if part is not None else 0) for part in key)


def team_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(sa.select(Team.id, Team.name).where(Team.id.in_(wanted)))
    return dict(rows.all())


def user_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(
        sa.select(User.id, User.display_name).where(User.id.in_(wanted))
    )
    return dict(rows.all())
