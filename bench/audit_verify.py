"""How fast ``creditdesk audit verify`` checks a large chain.

Fills a fresh database with already-chained entries computed here (bulk
INSERT on SQLite, COPY on PostgreSQL; record() would only measure the seal)
and times verify() on it. A PostgreSQL URL names the server: a database is
created for the run and dropped after it, as the test suite does.

    python -m bench.audit_verify [--url URL] [--entries N] [--workers N]
"""

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from creditdesk import migrations
from creditdesk.audit.chain import (
    GENESIS,
    canonical_json,
    encode_entry,
    entry_hash,
    format_instant,
)
from creditdesk.audit.verify import verify
from creditdesk.db import create_engine

COLUMNS = (
    "seq, occurred_at, actor_id, actor_name, channel, entity_type, entity_id,"
    " action, changes, reason, prev_hash, hash"
)
ACTIONS = ("credit.submitted", "credit.approved", "credit.posted", "case.opened")
REASONS = (None, None, "within the agent's limit", "goodwill:\nlong outage ✓")


def chained_rows(entries: int) -> Iterator[tuple]:
    """``entries`` realistic rows, each hashed over its predecessor."""
    prev_hash = GENESIS
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for seq in range(1, entries + 1):
        occurred_at = format_instant(start + timedelta(milliseconds=37 * seq))
        actor_id = None if seq % 10 == 0 else seq % 500
        actor_name = "worker" if actor_id is None else f"agent{actor_id}"
        changes = canonical_json(
            {"amount_minor": [None, seq * 7], "status": ["submitted", "approved"]}
        )
        fields = {
            "seq": seq,
            "occurred_at": occurred_at,
            "actor_id": actor_id,
            "actor_name": actor_name,
            "channel": "api",
            "entity_type": "credit",
            "entity_id": str(seq // 4),
            "action": ACTIONS[seq % 4],
            "changes": changes,
            "reason": REASONS[seq % 4],
        }
        digest = entry_hash(encode_entry(prev_hash=prev_hash, **fields))
        yield (*fields.values(), prev_hash, digest)
        prev_hash = digest


def fill(engine: sa.Engine, entries: int) -> None:
    """Insert the chain and move the head to its end, in one transaction."""
    rows = list(chained_rows(entries))
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        if engine.dialect.name == "postgresql":
            _copy_postgres(raw, rows)
        else:
            placeholders = ", ".join("?" * 12)
            raw.execute("BEGIN")
            raw.executemany(
                f"INSERT INTO audit_entries ({COLUMNS}) VALUES ({placeholders})", rows
            )
        last_seq, last_hash = rows[-1][0], rows[-1][-1]
        raw.execute(
            f"UPDATE audit_chain_head SET seq = {last_seq}, hash = '{last_hash}'"
        )
        raw.commit()


def _copy_postgres(raw: object, rows: list[tuple]) -> None:
    with raw.cursor() as cursor:  # type: ignore[attr-defined]
        copy_sql = f"COPY audit_entries ({COLUMNS}) FROM STDIN"
        with cursor.copy(copy_sql) as copy:
            for row in rows:
                copy.write_row((row[0], row[1] + "+00", *row[2:]))
        cursor.execute("ANALYZE audit_entries")


@contextmanager
def fresh_database(url: str) -> Iterator[str]:
    """A migrated, empty database: a temporary SQLite file or a PostgreSQL one."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        with tempfile.TemporaryDirectory(prefix="creditdesk-bench-") as folder:
            fresh = f"sqlite:///{Path(folder) / 'audit.db'}"
            migrations.upgrade(fresh)
            yield fresh
        return

    name = f"creditdesk_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        fresh = parsed.set(database=name).render_as_string(hide_password=False)
        migrations.upgrade(fresh)
        yield fresh
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def run(
    url: str, entries: int = 1_000_000, *, workers: int | None = None, repeat: int = 3
) -> dict:
    """Fill a fresh database with ``entries`` and time verify() ``repeat`` times."""
    with fresh_database(url) as fresh:
        engine = create_engine(fresh)
        try:
            started = time.perf_counter()
            fill(engine, entries)
            fill_seconds = time.perf_counter() - started

            timings, cpu = [], []
            for _ in range(repeat):
                cpu_before = _cpu_seconds()
                started = time.perf_counter()
                result = verify(engine, workers=workers)
                timings.append(time.perf_counter() - started)
                cpu.append(_cpu_seconds() - cpu_before)
                if not result.ok or result.checked != entries:
                    raise RuntimeError(f"the benchmark chain did not verify: {result}")
        finally:
            engine.dispose()

    median = statistics.median(timings)
    return {
        "backend": make_url(url).get_backend_name(),
        "entries": entries,
        "workers": workers,
        "fill_seconds": round(fill_seconds, 2),
        "verify_seconds": [round(t, 3) for t in timings],
        "entries_per_second": round(entries / median),
        "best_entries_per_second": round(entries / min(timings)),
        # This process and its workers; a PostgreSQL server's CPU is not in it.
        "client_cpu_seconds": [round(c, 3) for c in cpu],
        "load_average": round(os.getloadavg()[0], 2),
    }


def _cpu_seconds() -> float:
    """User and system CPU of this process and of its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="sqlite://", help="SQLite, or a PG server")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()

    figures = run(args.url, args.entries, workers=args.workers, repeat=args.repeat)
    if args.json:
        print(json.dumps(figures))
        return
    width = max(len(key) for key in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
