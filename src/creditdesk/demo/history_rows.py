"""The shapes a generated history is built from: ids, rows, steps, outcomes."""

from dataclasses import dataclass, field


class Ids:
    """The next free id of every table the history writes."""

    def __init__(self, bases: dict[str, int]) -> None:
        self.next = dict(bases)

    def take(self, table: str) -> int:
        value = self.next[table]
        self.next[table] = value + 1
        return value


@dataclass
class Rows:
    """Rows waiting to be written, per table, in ``history_write`` order."""

    tables: dict[str, list[tuple]] = field(default_factory=dict)

    def add(self, table: str, row: tuple) -> None:
        self.tables.setdefault(table, []).append(row)

    def extend(self, other: "Rows") -> None:
        for table, rows in other.tables.items():
            self.tables.setdefault(table, []).extend(rows)

    def count(self, table: str) -> int:
        return len(self.tables.get(table, ()))


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
