"""The per-process cache of field permission overrides.

The table is tiny and read on every credit response, so each process keeps a
copy per database for ``max_age`` seconds (``CREDITDESK_FIELD_CACHE_SECONDS``).
A change made in this process clears it when the change commits; a change made
in another process is seen here within ``max_age``.
"""

import threading
import time

import sqlalchemy as sa
from sqlalchemy.orm import Session

from creditdesk.access.models import FieldLevel, FieldPermission

Overrides = dict[tuple[str, str, str], FieldLevel]


class OverrideCache:
    """The override rows of each database, kept ``max_age`` seconds at most.

    Ages use the monotonic clock: this is cache freshness, not business time.
    A generation counter stops a load that raced a clear from storing rows
    read before the change committed.
    """

    def __init__(self, max_age: float = 5.0) -> None:
        self.max_age = max_age
        self._entries: dict[str, tuple[float, Overrides]] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def overrides(self, session: Session, *, fresh: bool = False) -> Overrides:
        """``{(role, entity, field): level}`` for the session's database."""
        key = str(session.get_bind().url)
        with self._lock:
            entry = self._entries.get(key)
            generation = self._generation
        if entry and not fresh and time.monotonic() - entry[0] < self.max_age:
            return entry[1]

        rows = _load(session)
        with self._lock:
            if generation == self._generation and self.max_age > 0:
                self._entries[key] = (time.monotonic(), rows)
        return rows

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()


def _load(session: Session) -> Overrides:
    rows = session.execute(
        sa.select(
            FieldPermission.role,
            FieldPermission.entity,
            FieldPermission.field,
            FieldPermission.level,
        )
    )
    return {(r.role, r.entity, r.field): FieldLevel(r.level) for r in rows}


cache = OverrideCache()


def configure(max_age_seconds: float) -> None:
    """Set how stale another process's change may look here (0: no cache)."""
    cache.max_age = max_age_seconds
    cache.clear()
