"""Who is asking and what they may see, and the shape every report takes."""

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from creditdesk.access import fields
from creditdesk.access.service import Permission, can
from creditdesk.reports.filters import Filters
from creditdesk.reports.rates import RateBook, load_book
from creditdesk.reports.settings import RoiBaselines
from creditdesk.reports.tally import Tally
from creditdesk.users.models import User


@dataclass(frozen=True, slots=True)
class Scope:
    """One caller's view: record visibility comes from ``access.visibility``
    in each query; ``amounts`` is the caller's field level for amounts.
    A ``summary`` is what a chart of the report needs, for the dashboard:
    the reports with percentiles count without ranking a duration (the
    percentiles are null), and credits issued are grouped by team alone."""

    user: User
    filters: Filters
    amounts: bool
    book: RateBook | None
    dialect: str
    baselines: RoiBaselines
    summary: bool = False

    @property
    def reads_reconciliation(self) -> bool:
        return can(self.user, Permission.READ_RECONCILIATION)

    def tally(self) -> Tally:
        return Tally(amounts=self.amounts, book=self.book)


def scope_for(
    session: Session,
    user: User,
    filters: Filters,
    baselines: RoiBaselines,
    *,
    summary: bool = False,
) -> Scope:
    amounts = fields.view_for(session, user).can_read("amount")
    book = None
    if amounts and filters.convert_to is not None:
        book = load_book(session, filters.convert_to, filters)
    dialect = session.get_bind().dialect.name
    return Scope(user, filters, amounts, book, dialect, baselines, summary)


@dataclass(slots=True)
class Report:
    """A report's tables, each a list of flat rows (JSON, CSV and XLSX)."""

    name: str
    title: str
    scope: Scope
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        book = self.scope.book
        if not self.scope.amounts:
            amounts = "hidden"
        else:
            amounts = "converted" if book else "per_currency"
        return {
            "report": self.name,
            "title": self.title,
            "filters": self.scope.filters.as_json(),
            "amounts": amounts,
            "tables": self.tables,
            "notes": self.notes,
        }

    def columns(self, table: str) -> list[str]:
        """The table's columns in the order its rows first name them."""
        seen: dict[str, None] = {}
        for row in self.tables[table]:
            seen.update(dict.fromkeys(row))
        return list(seen)
