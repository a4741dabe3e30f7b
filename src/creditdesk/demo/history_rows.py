"""The shapes a generated history is built from: ids, rows, steps, outcomes."""

from collections.abc import Callable
from dataclasses import dataclass
from itertools import count


class Ids:
    """The next free id of every table the history writes."""

    def __init__(self, bases: dict[str, int]) -> None:
        self._counters = {table: count(base) for table, base in bases.items()}

    def take(self, table: str) -> int:
        return next(self._counters[table])

    def taker(self, table: str) -> Callable[[], int]:
        """A function that takes the table's next id: for the hot loops, where
        looking the table up on every id would cost more than counting."""
        return self._counters[table].__next__


# The tables the planner fills, in the order they are written.
TABLES = (
    "cases",
    "billing_credits",
    "approval_requests",
    "approval_steps",
    "work_items",
    "outbox_messages",
    "ledger_memos",
    "ledger_entries",
    "reconciliation_runs",
    "reconciliation_findings",
)


class Rows:
    """Rows waiting to be written: per table, one flat list of values, row
    after row in ``history_columns`` order, as the writer takes them.

    A row goes in with ``rows.work_items.extend((...))``: nothing has to
    flatten a chunk before it is passed on, and with no tuple holding them
    most values are held by the list alone, which marshal writes without
    noting them for sharing (a time shared by a row's columns is noted).
    Attributes rather than a dictionary of lists: the planner adds several
    million rows, and an attribute is the cheapest way there.
    """

    __slots__ = TABLES

    def __init__(self) -> None:
        for table in self.__slots__:
            setattr(self, table, [])

    @property
    def tables(self) -> dict[str, list]:
        """The tables that have rows, by name: each a flat list of values."""
        return {
            table: rows for table in self.__slots__ if (rows := getattr(self, table))
        }


@dataclass(slots=True)
class Step:
    """A policy step as the history uses it: its stored text and who holds it."""

    label: str
    mode: str
    config: str
    deadline_minutes: int
    remind_before_minutes: int
    # "manager" levels up the reporting line, or a queue role.
    level: int
    queue_role: str | None


@dataclass(slots=True)
class Outcome:
    """Where the credit ended up, and when (seconds; None: not yet)."""

    status: str
    version: int
    updated: int
    decided: int | None = None
    posted: int | None = None
    applied: int | None = None
    external_ref: str | None = None
    last_error: str | None = None
    # When it reached a status that never moves again; an applied credit that
    # is voided later counts as settled when it was applied.
    settled: int | None = None
    pending_until: int | None = None
