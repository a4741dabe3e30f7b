"""The reports phase's generated history, kept between bench runs.

Writing a million credits takes a quarter of an hour on a small machine, so
the database is named for its scale and seed (a SQLite file under the cache
directory, a PostgreSQL database on the bench server) and reused when a
previous run finished writing it. A run that was cut short leaves no
``demo.history_written`` audit entry, and its database is made again.

``python -m bench.reports_history --backend sqlite --credits N`` fills the
cache ahead of a bench run (e.g. in the background while developing).
"""

import argparse
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from sqlalchemy.engine import make_url

from bench.databases import pg_server_url
from creditdesk import migrations, models
from creditdesk.demo.history import write_history

# The generated history's own target: credits written a second.
MIN_HISTORY_RATE = 20_000
# A fixed end keeps a cached history and its 12-month window the same from
# one run to the next, whatever day the bench is run on.
HISTORY_END = datetime(2026, 12, 1, tzinfo=UTC)
DEFAULT_CACHE = Path("data/bench")


@dataclass(frozen=True, slots=True)
class CachedHistory:
    backend: str
    url: str
    credits: int
    seed: int
    reused: bool
    seconds: float  # spent writing it in this run; 0 when reused

    @property
    def per_second(self) -> float | None:
        """Credits written a second, when this run wrote them."""
        return None if self.reused or not self.seconds else self.credits / self.seconds


def database_name(credits: int, seed: int) -> str:
    return f"creditdesk_bench_reports_{credits}_s{seed}"


def history_url(backend: str, credits: int, seed: int, cache: Path) -> str:
    name = database_name(credits, seed)
    if backend == "sqlite":
        return f"sqlite:///{(cache / f'{name}.sqlite').resolve()}"
    url = make_url(pg_server_url()).set(database=name)
    return url.render_as_string(hide_password=False)


def ensure_history(
    backend: str,
    *,
    credits: int,
    seed: int = 0,
    cache: Path = DEFAULT_CACHE,
    console: Console | None = None,
) -> CachedHistory:
    """The URL of a complete generated history, writing it when it is missing."""
    url = history_url(backend, credits, seed, cache)
    if _complete(url, seed):
        return CachedHistory(backend, url, credits, seed, reused=True, seconds=0.0)

    _recreate(backend, url, cache)
    migrations.upgrade(url)
    stats = _write(url, credits, seed, console or Console(stderr=True))
    _settle(backend, url)
    return CachedHistory(
        backend, url, credits, seed, reused=False, seconds=stats.seconds
    )


def _complete(url: str, seed: int) -> bool:
    # The history's last step is its sealed audit entry; without it the
    # database was left half-written. One made before the schema changed
    # (an index added, say) would time the reports on the old schema.
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            found = connection.execute(
                sa.text(
                    "SELECT 1 FROM audit_entries WHERE action = :action "
                    "AND entity_id = :entity"
                ),
                {"action": "demo.history_written", "entity": f"history-seed-{seed}"},
            ).first()
            return found is not None and _current_schema(connection)
    except sa.exc.SQLAlchemyError:
        return False  # no database, or no tables yet
    finally:
        engine.dispose()


def _current_schema(connection: sa.Connection) -> bool:
    """Whether every table has the columns and the indexes (by name and
    columns) the models name, and no others."""
    inspector = sa.inspect(connection)
    for table in models.Base.metadata.sorted_tables:
        columns = {column["name"] for column in inspector.get_columns(table.name)}
        wanted = {
            (index.name, tuple(column.name for column in index.columns))
            for index in table.indexes
        }
        found = {
            (index["name"], tuple(index["column_names"]))
            for index in inspector.get_indexes(table.name)
            # PostgreSQL also lists the index behind each unique constraint.
            if not index.get("duplicates_constraint")
        }
        if wanted != found or columns != set(table.columns.keys()):
            return False
    return True


def _recreate(backend: str, url: str, cache: Path) -> None:
    if backend == "sqlite":
        cache.mkdir(parents=True, exist_ok=True)
        path = Path(make_url(url).database or "")
        for leftover in (path, *path.parent.glob(f"{path.name}-*")):
            leftover.unlink(missing_ok=True)
        return
    name = make_url(url).database
    admin = sa.create_engine(pg_server_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()


def _settle(backend: str, url: str) -> None:
    # A history built up over two years would long since have been vacuumed:
    # until it is, PostgreSQL cannot answer from the covering indexes alone
    # (their pages are not yet marked all-visible) and reads the tables. The
    # statistics were sampled as the history was written.
    if backend != "postgresql":
        return
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("VACUUM")
    finally:
        engine.dispose()


def _write(url: str, credits: int, seed: int, console: Console):
    columns = (
        *Progress.get_default_columns()[:1],
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(f"reports history, {credits:,} credits", total=credits)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return write_history(
            url, scale=credits, seed=seed, progress=progress, now=HISTORY_END
        )


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reports_history")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), required=True)
    parser.add_argument("--credits", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(argv)
    cached = ensure_history(
        args.backend, credits=args.credits, seed=args.seed, cache=args.cache
    )
    state = (
        "reused"
        if cached.reused
        else f"written in {cached.seconds:.0f} s, {cached.per_second:,.0f} credits/s "
        f"(target >= {MIN_HISTORY_RATE:,}/s), load average {_load()}"
    )
    print(f"{cached.backend}: {cached.url} ({state})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
