"""Writing a generated history: the free ids, the bulk inserts, the clean-up.

Rows arrive as tuples in the column order below. SQLite takes them through
the driver's ``executemany``; PostgreSQL through ``COPY ... FROM STDIN``
(psycopg 3), both inside the SQLAlchemy connection's transaction, so a chunk
commits whole or not at all. Times are already text (see history_time); the
PostgreSQL session is set to UTC so that text means UTC there too.
"""

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import sqlalchemy as sa

from creditdesk.demo.history_indexes import put_back, put_back_checked, set_aside

COLUMNS: dict[str, tuple[str, ...]] = {
    "teams": ("id", "name", "calendar", "created_at"),
    "users": (
        "id",
        "username",
        "display_name",
        "email",
        "role",
        "team_id",
        "manager_id",
        "password_hash",
        "password_changed_at",
        "failed_sign_ins",
        "locked_until",
        "is_active",
        "created_at",
        "updated_at",
    ),
    "accounts": (
        "id",
        "number",
        "name",
        "currency",
        "status",
        "billing_system",
        "external_account_id",
        "created_at",
        "team_id",
    ),
    "contracts": (
        "id",
        "account_id",
        "product",
        "starts_on",
        "ends_on",
        "status",
        "credit_types",
        "credit_cap_minor",
        "created_at",
    ),
    "invoices": (
        "id",
        "account_id",
        "reference",
        "issued_on",
        "period_start",
        "period_end",
        "amount_minor",
        "currency",
        "created_by_id",
        "created_at",
        "team_id",
    ),
    "cases": (
        "id",
        "account_id",
        "subject",
        "description",
        "type",
        "product",
        "invoice_ref",
        "disputed_amount_minor",
        "currency",
        "status",
        "owner_id",
        "team_id",
        "opened_at",
        "resolved_at",
    ),
    "billing_credits": (
        "id",
        "case_id",
        "account_id",
        "requested_by_id",
        "team_id",
        "amount_minor",
        "currency",
        "type",
        "reason",
        "justification",
        "product",
        "invoice_ref",
        "status",
        "policy_version",
        "decision",
        "near_duplicate",
        "over_cap",
        "external_ref",
        "last_error",
        "created_at",
        "updated_at",
        "decided_at",
        "posted_at",
        "applied_at",
        "version",
        "posted_month",
        "approval_requested_at",
    ),
    "approval_requests": ("id", "credit_id", "status", "created_at", "completed_at"),
    "approval_steps": (
        "id",
        "request_id",
        "credit_id",
        "sequence",
        "kind",
        "mode",
        "config",
        "status",
        "acting_approver_id",
        "comment",
        "assigned_at",
        "decided_at",
        "created_at",
    ),
    "work_items": (
        "id",
        "kind",
        "credit_id",
        "step_id",
        "assignee_id",
        "queue_role",
        "original_assignee_id",
        "origin",
        "status",
        "assigned_at",
        "due_at",
        "remind_at",
        "reminded_at",
        "claimed_at",
        "decided_at",
        "decided_by_id",
        "elapsed_seconds",
        "comment",
        "created_at",
    ),
    "outbox_messages": (
        "id",
        "topic",
        "payload",
        "status",
        "attempts",
        "available_at",
        "lease_owner",
        "lease_expires_at",
        "last_error",
        "created_at",
        "delivered_at",
    ),
    "ledger_memos": (
        "id",
        "idempotency_key",
        "account_id",
        "credit_id",
        "amount_minor",
        "currency",
        "status",
        "created_at",
        "applied_at",
        "reversal_key",
        "reversed_at",
    ),
    "ledger_entries": (
        "id",
        "account_id",
        "memo_id",
        "amount_minor",
        "currency",
        "description",
        "created_at",
    ),
    "reconciliation_runs": (
        "id",
        "system",
        "period_start",
        "period_end",
        "status",
        "vendor_memos",
        "matched",
        "untracked",
        "missing",
        "mismatched",
        "error",
        "started_by_id",
        "actor_name",
        "started_at",
        "finished_at",
    ),
    "reconciliation_findings": (
        "id",
        "run_id",
        "kind",
        "credit_id",
        "external_ref",
        "idempotency_key",
        "our_amount_minor",
        "our_currency",
        "vendor_amount_minor",
        "vendor_currency",
        "detail",
    ),
}
# TODO(history-speed): 9,000 to 14,000 credits a second on the shared
# two-core machine, short of the 20,000 aimed for. The one generating process
# is the bottleneck (about 55 us of processor time a credit; the writer takes
# about as much again, and rebuilding the indexes adds a serial tail), so two
# cores cannot overlap enough. Several generating processes would need the
# history split into parts that share no account or agent, each with a seed
# and id ranges of its own reserved up front; that changes the rows a seed
# gives and the order of ids in time that the reports' range estimate uses.

# Parents before children, so every foreign key finds its row.
ORDER = tuple(COLUMNS)

# A bigger page cache while loading: the indexes of a million credits do not
# fit SQLite's default 2 MB, and every insert walks them.
SQLITE_LOAD_CACHE_KIB = 256 * 1024


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
    connection.commit()

    def restore() -> None:
        connection.exec_driver_sql(f"PRAGMA cache_size = {before}")
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


def write(connection: sa.Connection, tables: dict[str, list[tuple]]) -> int:
    """Insert every table's rows in foreign-key order; the number of rows."""
    written = 0
    for table in ORDER:
        rows = tables.get(table)
        if rows:
            _insert(connection, table, rows)
            written += len(rows)
    return written


def _insert(connection: sa.Connection, table: str, rows: Iterable[tuple]) -> None:
    names = ", ".join(COLUMNS[table])
    raw: Any = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        statement = f"COPY {table} ({names}) FROM STDIN"
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" * len(COLUMNS[table]))
    insert = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608
    cursor = raw.cursor()
    try:
        cursor.executemany(insert, rows)
    finally:
        cursor.close()


def after_load(connection: sa.Connection) -> None:
    """Move PostgreSQL's sequences past the ids written, and refresh its
    statistics so the planner sees the new sizes; SQLite needs neither."""
    if connection.dialect.name != "postgresql":
        return
    for table in ORDER:
        connection.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
            f"greatest((SELECT max(id) FROM {table}), 1))"
        )
    for table in ORDER:
        connection.exec_driver_sql(f"ANALYZE {table}")
