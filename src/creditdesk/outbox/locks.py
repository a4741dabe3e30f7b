"""A lock per idempotency key, shared by every worker, for vendors that
cannot deduplicate a create themselves.

The outbox lease keeps one worker on a message, but a lease can run out while
its worker still waits for a vendor, and then a second worker takes the
message over. Where the vendor honours an idempotency key that is harmless;
where exactly once rests on looking the key up before creating (SAP), both
workers could look, both miss, both create. Holding this lock around the
lookup and the create closes that window: the second worker finds the key
taken and tries later, by when the first one's memo can be looked up.

On PostgreSQL it is a session-level advisory lock on a connection of its
own, held without a transaction open, and released by the database if the
process dies. Elsewhere (SQLite) it is only a lock within this process.
"""

import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.outbox.errors import TransientError

log = structlog.get_logger(__name__)

# The first half of the two-key advisory lock: which kind of thing the second
# half numbers, so that these locks never meet another feature's.
_NAMESPACE = 0x43445053  # "CDPS"


class KeyBusy(TransientError):
    """Another worker holds the key right now: try again after it finishes."""


class KeyLocks:
    """Locks by key, across processes where the database can hold them."""

    def __init__(self, session_factory: sessionmaker[Session] | None = None) -> None:
        bind = session_factory.kw.get("bind") if session_factory else None
        self._engine = bind if isinstance(bind, Engine) else None
        self._held: set[str] = set()
        self._held_guard = threading.Lock()

    @property
    def across_processes(self) -> bool:
        return self._engine is not None and self._engine.dialect.name == "postgresql"

    @contextmanager
    def hold(self, key: str, *, retry_after_seconds: float) -> Iterator[None]:
        """Hold ``key`` for the block, or raise KeyBusy at once if taken."""
        held = self._database(key) if self.across_processes else self._process(key)
        with held as acquired:
            if not acquired:
                log.info("outbox.key_busy", key=key)
                raise KeyBusy(
                    f"another worker is sending {key} right now",
                    retry_after_seconds=retry_after_seconds,
                )
            yield

    @contextmanager
    def _database(self, key: str) -> Iterator[bool]:
        assert self._engine is not None
        ids = {"space": _NAMESPACE, "key": _key_number(key)}
        connection = self._engine.connect()
        try:
            acquired = bool(
                connection.scalar(
                    sa.text("SELECT pg_try_advisory_lock(:space, :key)"), ids
                )
            )
            # The lock belongs to the connection, not to a transaction: end
            # the transaction so none stays open while a vendor answers.
            connection.commit()
            yield acquired
        finally:
            _unlock(connection, ids)

    @contextmanager
    def _process(self, key: str) -> Iterator[bool]:
        with self._held_guard:
            acquired = key not in self._held
            self._held.add(key)
        try:
            yield acquired
        finally:
            if acquired:
                with self._held_guard:
                    self._held.discard(key)


def _unlock(connection: sa.Connection, ids: dict[str, int]) -> None:
    try:
        # Unlocking a lock this connection does not hold is a no-op (false).
        connection.execute(sa.text("SELECT pg_advisory_unlock(:space, :key)"), ids)
        connection.commit()
    except sa.exc.DBAPIError:
        # A lock must not go back to the pool with the connection: drop it,
        # and the database releases the lock when the connection closes.
        log.warning("outbox.key_unlock_failed", key_number=ids["key"])
        connection.invalidate()
    finally:
        connection.close()


def _key_number(key: str) -> int:
    """The key as a signed 32-bit number; two keys sharing one only wait."""
    number = zlib.crc32(key.encode())
    return number - 2**32 if number >= 2**31 else number
