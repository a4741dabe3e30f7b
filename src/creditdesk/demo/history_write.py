"""Writing a generated history: the free ids, the bulk inserts, the clean-up.

Rows arrive as one flat list of values a table, in the column order of
``history_columns``. SQLite takes them through INSERTs of many rows each;
PostgreSQL through ``COPY ... FROM STDIN`` (psycopg 3), both inside the
SQLAlchemy connection's transaction, so a chunk commits whole or not at all.
Times are already text (see history_time); the PostgreSQL session is set to
UTC so that text means UTC there too.
"""

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from itertools import chain
from typing import Any

import sqlalchemy as sa

from creditdesk.demo.history_columns import COLUMNS, ORDER
from creditdesk.demo.history_indexes import put_back, put_back_checked, set_aside

# A bigger page cache while loading: the indexes of a million credits do not
# fit SQLite's default 2 MB, and every insert walks them.
SQLITE_LOAD_CACHE_KIB = 256 * 1024
# The rebuild and the checks read every table many times over; mapped into
# memory, a page costs no system call to read (SQLite caps the size it maps).
SQLITE_MMAP_BYTES = 1 << 40
# Rows per INSERT on SQLite, within its limit on bound values.
SQLITE_ROWS_PER_INSERT = 100


def free_ids(connection: sa.Connection) -> dict[str, int]:
    """The first unused id of every table the history writes."""
    return {
        table: int(
            connection.exec_driver_sql(
                f"SELECT coalesce(max(id), 0) + 1 FROM {table}"  # noqa: S608
            ).scalar_one()
        )
        for table in ORDER
    }


@contextmanager
def loading(connection: sa.Connection) -> Iterator[None]:
    """Session settings and set-aside indexes for the bulk load, put back
    afterwards, whether it finished or failed.

    Nothing goes unchecked: primary keys and unique constraints stay on, and
    the foreign keys, indexes and (on SQLite) CHECK constraints set aside are
    checked and rebuilt over every row once the load is over (see
    history_indexes). PostgreSQL gives up waiting for each commit's WAL flush
    (a crash loses at most the last chunks, never consistency).
    """
    postgres = connection.dialect.name == "postgresql"
    restore = _pg_settings(connection) if postgres else _sqlite_settings(connection)
    try:
        aside = set_aside(connection, ORDER)
        try:
            with nullcontext() if postgres else _rollback_journal(connection):
                yield
        except BaseException:
            connection.rollback()
            put_back(connection, aside)
            raise
        connection.rollback()
        put_back_checked(connection, aside, ORDER)
    finally:
        connection.rollback()
        restore()


def _pg_settings(connection: sa.Connection) -> Callable[[], None]:
    connection.exec_driver_sql("SET TIME ZONE 'UTC'")
    connection.exec_driver_sql("SET synchronous_commit = off")
    connection.commit()

    def restore() -> None:
        connection.exec_driver_sql("RESET synchronous_commit")
        connection.exec_driver_sql("RESET TIME ZONE")
        connection.commit()

    return restore


def _sqlite_settings(connection: sa.Connection) -> Callable[[], None]:
    # SQLite checks a foreign key with a lookup per row and per key; the
    # pragma is ignored inside a transaction, hence the driver's own call.
    raw: Any = connection.connection.driver_connection
    raw.execute("PRAGMA foreign_keys = OFF")
    connection.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
    before = connection.exec_driver_sql("PRAGMA cache_size").scalar_one()
    connection.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_LOAD_CACHE_KIB}")
    mapped = connection.exec_driver_sql("PRAGMA mmap_size").scalar_one()
    connection.exec_driver_sql(f"PRAGMA mmap_size = {SQLITE_MMAP_BYTES}")
    connection.commit()

    def restore() -> None:
        connection.exec_driver_sql(f"PRAGMA cache_size = {before}")
        connection.exec_driver_sql(f"PRAGMA mmap_size = {mapped}")
        connection.exec_driver_sql("PRAGMA ignore_check_constraints = OFF")
        connection.commit()
        raw.execute("PRAGMA foreign_keys = ON")

    return restore


@contextmanager
def _rollback_journal(connection: sa.Connection) -> Iterator[None]:
    """SQLite's rollback journal for the load, WAL again afterwards.

    WAL writes every page twice, to the log and then to the database at each
    checkpoint, with a sync each time; a rollback journal keeps only the few
    pages that existed before, so the pages of new rows are written once.
    Leaving WAL needs the only connection to the database: when another is
    open, the load stays in WAL.
    """
    raw: Any = connection.connection.driver_connection
    connection.commit()
    try:
        mode = raw.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
    except sqlite3.OperationalError:
        mode = "wal"
    try:
        yield
    finally:
        if mode != "wal":
            connection.rollback()
            raw.execute("PRAGMA journal_mode = WAL")


def flatten(tables: dict[str, list[tuple]]) -> dict[str, list]:
    """Rows as ``write`` takes them: a table's values in one list, row after
    row."""
    return {table: list(chain.from_iterable(rows)) for table, rows in tables.items()}


def write(connection: sa.Connection, tables: dict[str, list]) -> dict[str, int]:
    """Insert every table's rows in foreign-key order; the rows per table.

    A table's rows come as one flat list of values, row after row in
    ``COLUMNS`` order (see ``flatten``): half the cost of a tuple per row to
    pass from the generating process, and what a many-row INSERT binds.
    """
    written = {}
    for table in ORDER:
        values = tables.get(table)
        if values:
            written[table] = _insert(connection, table, values)
    return written


def _insert(connection: sa.Connection, table: str, values: list) -> int:
    columns = COLUMNS[table]
    width, names = len(columns), ", ".join(columns)
    raw: Any = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        statement = f"COPY {table} ({names}) FROM STDIN"
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in zip(*[iter(values)] * width, strict=True):
                copy.write_row(row)
        return len(values) // width
    cursor = raw.cursor()
    try:
        for statement, part in _sqlite_inserts(raw, table, names, width, values):
            cursor.execute(statement, part)
    finally:
        cursor.close()
    return len(values) // width


def _sqlite_inserts(
    raw: sqlite3.Connection, table: str, names: str, width: int, values: list
) -> Iterator[tuple[str, list]]:
    """INSERTs of many rows each, and the values each binds.

    SQLite sets a statement up once for all its rows (the lookup a CHECK's
    IN list needs, among others) and Python calls it once: a fifth less
    processor time than a statement run per row.
    """
    limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    per = max(1, min(SQLITE_ROWS_PER_INSERT, limit // width))
    row = "(" + ", ".join("?" * width) + ")"
    step = per * width
    whole = len(values) - len(values) % step
    rows = ", ".join([row] * per)
    many = f"INSERT INTO {table} ({names}) VALUES {rows}"  # noqa: S608
    for start in range(0, whole, step):
        yield many, values[start : start + step]
    rest = values[whole:]
    if rest:
        rows = ", ".join([row] * (len(rest) // width))
        yield f"INSERT INTO {table} ({names}) VALUES {rows}", rest  # noqa: S608


def after_load(connection: sa.Connection) -> None:
    """Move PostgreSQL's sequences past the ids written (its statistics were
    sampled as the keys were checked); SQLite needs nothing."""
    if connection.dialect.name != "postgresql":
        return
    for table in ORDER:
        connection.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
            f"greatest((SELECT max(id) FROM {table}), 1))"
        )
