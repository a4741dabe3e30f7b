"""Engine, sessions and the column types every feature package shares.

Services receive a Session and only flush; whoever opened the session (the
request, a worker job, a CLI command) owns the commit.
"""

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_MS = 30_000

# An execution option marking a session that only reads: on SQLite it begins
# a deferred transaction that does not queue behind writers.
READ_ONLY = "creditdesk_read_only"

# Integer keys: BIGINT on PostgreSQL, INTEGER on SQLite (where only INTEGER
# PRIMARY KEY is the rowid alias that autoincrements).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both databases (SQLite keeps no zone itself)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling begins lazily and DEFERRED, which lets
    # two writers deadlock on lock upgrade. We issue BEGIN IMMEDIATE ourselves so
    # writers queue instead, which also serialises decisions on a credit.
    writers = _WriterQueue()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
            return
        writers.enter(connection.info)
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(engine.pool, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        writers.leave(record.info)

    @event.listens_for(engine.pool, "invalidate")
    def _on_invalidate(_dbapi_connection: Any, record: Any, _exc: Any) -> None:
        writers.leave(record.info)


class _WriterQueue:
    """One writing transaction at a time within this process, first come,
    first served.

    SQLite's busy handler retries a locked database by sleeping up to 100 ms at
    a time, so under contention some writers lose again and again while others
    get straight through. Threads of one process instead wait here in turn,
    and only writers in other processes meet the busy handler. A connection
    holds its turn from its first write transaction until it goes back to the
    pool, which is after its COMMIT or ROLLBACK.

    The turn is handed to the longest waiter: with a plain lock the thread
    that just let go (the outbox worker, say, going on to its next message)
    usually takes it again before a woken waiter runs, and a request could
    wait behind a whole batch of postings.
    """

    _HELD = "creditdesk_writer_lock"

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._busy = False
        self._waiting: deque[threading.Lock] = deque()

    def enter(self, info: dict[str, Any]) -> None:
        if info.get(self._HELD):
            return
        # The timeout is a safety valve against a connection that never comes
        # back to the pool; SQLite's own busy timeout still guards the file.
        info[self._HELD] = self._acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)

    def leave(self, info: dict[str, Any]) -> None:
        if info.pop(self._HELD, False):
            self._release()

    def _acquire(self, timeout: float) -> bool:
        with self._mutex:
            if not self._busy:
                self._busy = True
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiting.append(turn)
        if turn.acquire(timeout=timeout):
            return True
        with self._mutex:
            if turn in self._waiting:
                self._waiting.remove(turn)
                return False
        # Handed over between the timeout and taking the mutex: it is ours.
        return True

    def _release(self) -> None:
        with self._mutex:
            if self._waiting:
                # Still busy: the turn passes straight to the next in line.
                self._waiting.popleft().release()
            else:
                self._busy = False


def create_engine(url: str, **kwargs: Any) -> Engine:
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 16)
        kwargs.setdefault("max_overflow", 8)
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = sa.create_engine(
            url,
            connect_args={
                "check_same_thread": False,
                "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
            },
            **kwargs,
        )
        _configure_sqlite(engine)
        return engine
    engine = sa.create_engine(url, **kwargs)
    ping_after_idle(engine, PING_AFTER_IDLE_SECONDS)
    return engine


# A pooled PostgreSQL connection idle longer than this is pinged before use.
PING_AFTER_IDLE_SECONDS = 1.0


def ping_after_idle(engine: Engine, idle_seconds: float) -> None:
    """Test a connection on checkout only when it sat idle in the pool.

    What breaks pooled connections is mostly time: a server restart, an idle
    timeout, a dropped NAT entry. A connection handed back a moment ago is
    almost surely alive, and pinging it anyway (``pool_pre_ping``) would cost
    every transaction a round trip. A dead one found here is replaced, as
    the pool does with a failed pre-ping.
    """

    dbapi_error = engine.dialect.loaded_dbapi.Error

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return
        try:
            dbapi_connection.execute("SELECT 1").close()
            dbapi_connection.rollback()
        except dbapi_error as exc:
            raise sa.exc.DisconnectionError(str(exc)) from exc


def _ensure_sqlite_dir(url: str) -> None:
    path = sa.engine.make_url(url).database
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=True)


def read_only(session: Session) -> Session:
    """Mark ``session`` as read-only before its first query (see READ_ONLY)."""
    session.connection(execution_options={READ_ONLY: True})
    return session


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work for CLI commands and worker jobs: commit or roll back."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def str_enum(enum_cls: type, name: str) -> sa.Enum:
    """A portable enum column: VARCHAR plus a CHECK constraint on both databases."""
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


def utcnow_column(**kwargs: Any) -> Any:
    """A NOT NULL UTC timestamp column (the service sets it from its clock)."""
    return mapped_column(UTCDateTime(), nullable=False, **kwargs)
