"""The rows the reports read, copied out of our database into Parquet files.

Rows are streamed through SQLAlchemy into a CSV file per table (times as
naive UTC text, so DuckDB needs no time zone support), which DuckDB reads
with declared column types and copies to Parquet. The files sit beside the
cached history and are reused while the history is.
"""

import csv
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import sqlalchemy as sa

from creditdesk.approvals.models import ApprovalRequest, WorkItem
from creditdesk.cases.models import Case
from creditdesk.credits.models import BillingCredit
from creditdesk.reconciliation.models import ReconciliationFinding, ReconciliationRun

NULL = r"\N"
STREAM_ROWS = 20_000

# Each Parquet file: its source columns and their DuckDB types.
TABLES: dict[str, tuple[Any, ...]] = {
    "credits": (
        (BillingCredit.id, "BIGINT"),
        (BillingCredit.team_id, "BIGINT"),
        (BillingCredit.requested_by_id, "BIGINT"),
        (BillingCredit.reason, "VARCHAR"),
        (BillingCredit.product, "VARCHAR"),
        (BillingCredit.currency, "VARCHAR"),
        (BillingCredit.amount_minor, "BIGINT"),
        (BillingCredit.status, "VARCHAR"),
        (BillingCredit.near_duplicate, "BOOLEAN"),
        (BillingCredit.over_cap, "BOOLEAN"),
        (BillingCredit.created_at, "TIMESTAMP"),
        (BillingCredit.decided_at, "TIMESTAMP"),
        (BillingCredit.posted_at, "TIMESTAMP"),
    ),
    "approvals": (
        (ApprovalRequest.credit_id, "BIGINT"),
        (ApprovalRequest.created_at, "TIMESTAMP"),
    ),
    "cases": (
        (Case.id, "BIGINT"),
        (Case.type, "VARCHAR"),
        (Case.team_id, "BIGINT"),
        (Case.owner_id, "BIGINT"),
        (Case.opened_at, "TIMESTAMP"),
        (Case.resolved_at, "TIMESTAMP"),
    ),
    "work_items": (
        (WorkItem.credit_id, "BIGINT"),
        (WorkItem.kind, "VARCHAR"),
        (WorkItem.assigned_at, "TIMESTAMP"),
    ),
    "findings": (
        (ReconciliationFinding.run_id, "BIGINT"),
        (ReconciliationFinding.credit_id, "BIGINT"),
        (ReconciliationFinding.kind, "VARCHAR"),
        (ReconciliationFinding.vendor_currency, "VARCHAR"),
        (ReconciliationFinding.vendor_amount_minor, "BIGINT"),
    ),
    "runs": (
        (ReconciliationRun.id, "BIGINT"),
        (ReconciliationRun.status, "VARCHAR"),
        (ReconciliationRun.started_at, "TIMESTAMP"),
    ),
}


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that never fetches an extension at run time."""
    return duckdb.connect(
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
    )


def export_parquet(url: str, directory: Path) -> dict[str, int]:
    """Write ``directory/<table>.parquet`` for every table in TABLES from the
    database at ``url``, unless a finished export is there; the row counts."""
    done = directory / "rows.csv"
    if done.exists():
        return _read_counts(done)

    staging = directory.with_name(directory.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    counts: dict[str, int] = {}
    try:
        with engine.connect() as connection, connect() as duck:
            for table, columns in TABLES.items():
                counts[table] = _export_table(connection, duck, staging, table, columns)
    finally:
        engine.dispose()
    _write_counts(staging / "rows.csv", counts)
    shutil.rmtree(directory, ignore_errors=True)
    staging.rename(directory)
    return counts


def _export_table(
    connection: sa.Connection,
    duck: duckdb.DuckDBPyConnection,
    directory: Path,
    table: str,
    columns: tuple[Any, ...],
) -> int:
    text = directory / f"{table}.csv"
    names = [column.key for column, _ in columns]
    query = sa.select(*(column for column, _ in columns))
    rows = 0
    with text.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(names)
        result = connection.execution_options(yield_per=STREAM_ROWS).execute(query)
        for partition in result.partitions():
            writer.writerows([_cell(value) for value in row] for row in partition)
            rows += len(partition)

    types = ", ".join(
        f"'{name}': '{kind}'" for name, (_, kind) in zip(names, columns, strict=True)
    )
    duck.execute(
        f"COPY (SELECT * FROM read_csv('{text}', header = true, nullstr = '{NULL}', "
        f"columns = {{{types}}})) TO '{directory / table}.parquet' (FORMAT PARQUET)"
    )
    text.unlink()
    return rows


def _cell(value: Any) -> Any:
    if value is None:
        return NULL
    if isinstance(value, datetime):
        # Already UTC (UTCDateTime); DuckDB keeps it as a plain TIMESTAMP.
        return value.replace(tzinfo=None).isoformat(" ")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _write_counts(path: Path, counts: dict[str, int]) -> None:
    with path.open("w", newline="") as out:
        csv.writer(out).writerows(counts.items())


def _read_counts(path: Path) -> dict[str, int]:
    with path.open(newline="") as source:
        return {table: int(rows) for table, rows in csv.reader(source)}
