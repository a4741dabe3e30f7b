"""What a history's bulk load sets aside while it runs, and builds again after.

Keeping a dozen secondary indexes up to date row by row, and checking every
row's foreign keys as it arrives, cost about as much processor time as
storing the rows (on PostgreSQL, whose key checks are a trigger per row,
more). Built once over the loaded rows (a sort per index, as ``pg_restore``
does), the indexes cost a fraction of that, and every foreign key is still
checked, in one pass per key once the rows are in. SQLite's CHECK
constraints are set aside too (an ``IN`` list costs it about a microsecond
a row, half the cost of storing some tables' rows) and checked in one scan
per table. Primary keys and unique constraints stay in place throughout,
so a duplicate id fails the chunk that brings it.

On SQLite the indexes whose keys arrive in nearly ascending order stay in
place (``SQLITE_KEPT_LIVE``): the writer keeps them while it would otherwise
wait for the generator.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import sqlalchemy as sa

from creditdesk import models
from creditdesk.db import READ_ONLY

# Index builds sort in memory up to this; the default 64 MB spills to disk.
PG_BUILD_MEMORY = "256MB"
# Connections rebuilding side by side: one per core of a small server. Each
# builds alone: with a parallel build's workers beside them, the cores spent
# a twentieth more on splitting and merging the sorts.
PG_BUILDERS = 2
PG_BUILD_WORKERS = 0
# A key's check joins its rows to the parent table's ids: hashed in memory,
# a fifth faster than in the default 4 MB's batches on disk.
PG_CHECK_MEMORY = "256MB"
# SQLite's sorter runs faster merging sorted runs of a few megabytes than
# sorting one run the size of the load's page cache.
SQLITE_BUILD_CACHE_KIB = 4 * 1024
# A thread that sorts beside the one building an index: a fifth off the
# builds, though the rows' checks share the second core for their first
# seconds.
SQLITE_SORT_HELPERS = 1
# The checks look up parent rows all over their tables, and read the
# children's from end to end (mapped, a page read needs no system call).
SQLITE_CHECK_CACHE_KIB = 64 * 1024
SQLITE_CHECK_MMAP_BYTES = 1 << 40
# Indexes SQLite keeps up to date during the load: a time or an id leads
# their keys (or a status or kind of a few values, then one), so each row
# lands at the end of one of a few pages the cache holds. The writer keeps
# them in time it would spend waiting for the generator (about 8 s of a
# million credits), and the rebuild takes 10 s instead of 19. Kept live,
# an index costs the writer about as much as building it afterwards, or
# more, so only those fitting that time are kept; the cases' report indexes
# and the credits' team-led one cost twice to three times their build, and
# keeping them made the writer the slower side. PostgreSQL's writer has no
# such time to spare (keeping them made its load a quarter slower).
SQLITE_KEPT_LIVE = frozenset(
    {
        "ix_approval_requests_credit_created",
        "ix_approval_requests_credit_id",
        "ix_approval_steps_credit_id",
        "ix_billing_credits_case_id",
        "ix_billing_credits_report_created",
        "ix_billing_credits_report_posted",
        "ix_billing_credits_status_id",
        "ix_cases_status_id",
        "ix_outbox_messages_due",
        "ix_work_items_credit_id",
        "ix_work_items_kind_assigned",
        "ix_work_items_status_due",
        "ix_work_items_status_remind",
        "ix_work_items_step_id",
    }
)


class BrokenForeignKey(RuntimeError):
    """A loaded row names a parent row that does not exist: a generator bug."""


class BrokenCheck(RuntimeError):
    """A loaded row breaks a CHECK constraint: a generator bug."""


@dataclass(frozen=True, slots=True)
class SetAside:
    """The statements that took indexes and keys away, and those that build
    them again, in the order to run each."""

    drops: tuple[str, ...]
    # Per index: its table and the statement that builds it.
    indexes: tuple[tuple[str, str], ...]
    # Per foreign key: its table, adding it unchecked, then checking the rows
    # have it.
    keys: tuple[tuple[str, str, str], ...] = ()

    @property
    def rebuilds(self) -> tuple[str, ...]:
        """Every rebuilding statement, one after another."""
        builds = (build for _, build in self.indexes)
        return (*builds, *(step for _, *steps in self.keys for step in steps))


def set_aside(connection: sa.Connection, tables: tuple[str, ...]) -> SetAside:
    """Drop the secondary indexes (but SQLite's ``SQLITE_KEPT_LIVE``, and on
    PostgreSQL the foreign keys too) of ``tables``, committed, and say how to
    build them again."""
    if connection.dialect.name == "postgresql":
        aside = _postgres(connection, tables)
    else:
        aside = _sqlite(connection, tables)
    with connection.begin():
        for statement in aside.drops:
            connection.exec_driver_sql(statement)
    return aside


def put_back(connection: sa.Connection, aside: SetAside) -> None:
    """Build what ``set_aside`` dropped, in one transaction."""
    with connection.begin():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(
                f"SET LOCAL maintenance_work_mem = '{PG_BUILD_MEMORY}'"
            )
        else:
            connection.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_BUILD_CACHE_KIB}")
            connection.exec_driver_sql(f"PRAGMA threads = {SQLITE_SORT_HELPERS}")
        for statement in aside.rebuilds:
            connection.exec_driver_sql(statement)


def put_back_checked(
    connection: sa.Connection, aside: SetAside, tables: tuple[str, ...]
) -> None:
    """``put_back``, and every row of ``tables`` checked against the keys and
    constraints the load left unchecked.

    PostgreSQL checks each foreign key as it is added back, and samples the
    statistics of ``tables`` afresh (see ``_put_back_side_by_side``). On
    SQLite the rows are scanned on a connection of their own while the
    indexes are built, each on a core of its own (SQLite gives up the
    interpreter lock while it works); in WAL mode that read sees the loaded
    rows whatever the build writes.
    """
    if connection.dialect.name == "postgresql":
        _put_back_side_by_side(connection.engine, aside, tables)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        checked = pool.submit(_check_rows, connection.engine, tables)
        put_back(connection, aside)
        checked.result()


@dataclass(frozen=True, slots=True)
class Job:
    """Statements one connection runs in turn, all on one table."""

    table: str
    statements: tuple[str, ...]
    # A key's check and ANALYZE take a lock that no other work on the table
    # shares; index builds share theirs with each other.
    alone: bool


def _put_back_side_by_side(
    engine: sa.Engine, aside: SetAside, tables: tuple[str, ...]
) -> None:
    """PostgreSQL's rebuild on PG_BUILDERS connections at once, each statement
    committed on its own.

    The keys are added back unchecked first, while nothing else runs (adding
    one waits for any work on both its tables). Then, table by table from
    the largest, its indexes are built, and its keys checked and its
    statistics sampled in one job that has the table to itself. A connection
    that would wait for that table takes the next table's work instead, so
    the checks of one table run beside the builds of another.
    """
    with engine.begin() as connection:
        for _, add, _ in aside.keys:
            connection.exec_driver_sql(add)

    builds: dict[str, list[str]] = {}
    for table, build in aside.indexes:
        builds.setdefault(table, []).append(build)
    checks: dict[str, list[str]] = {}
    for table, _, check in aside.keys:
        checks.setdefault(table, []).append(check)
    jobs = []
    for table in _largest_first(engine, tables):
        jobs += [Job(table, (build,), alone=False) for build in builds.get(table, [])]
        alone = (*checks.get(table, []), f"ANALYZE {table}")
        jobs.append(Job(table, alone, alone=True))

    _side_by_side(
        engine,
        jobs,
        f"SET maintenance_work_mem = '{PG_BUILD_MEMORY}'",
        f"SET max_parallel_maintenance_workers = {PG_BUILD_WORKERS}",
        f"SET work_mem = '{PG_CHECK_MEMORY}'",
    )


def _largest_first(engine: sa.Engine, tables: tuple[str, ...]) -> list[str]:
    # The largest tables' work starts first, so that the last job to finish
    # is a short one.
    with engine.connect() as connection:
        sizes = dict(
            connection.exec_driver_sql(
                "SELECT oid::regclass::text, pg_relation_size(oid) FROM pg_class "
                "WHERE relkind = 'r' "
                "AND relnamespace = current_schema()::regnamespace"
            ).all()
        )
    return sorted(tables, key=lambda table: -sizes.get(table, 0))


def _side_by_side(engine: sa.Engine, jobs: list[Job], *settings: str) -> None:
    """Run ``jobs`` on PG_BUILDERS connections, each taking the first job
    whose locks the others' running jobs leave free; the first failure is
    raised once all have stopped."""
    board = Board(jobs)

    def work() -> None:
        autocommit = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        with autocommit as connection:
            for setting in settings:
                connection.exec_driver_sql(setting)
            while (job := board.take()) is not None:
                try:
                    for statement in job.statements:
                        connection.exec_driver_sql(statement)
                except BaseException:
                    board.stop()
                    raise
                finally:
                    board.done(job)

    with ThreadPoolExecutor(max_workers=PG_BUILDERS) as pool:
        done = [pool.submit(work) for _ in range(PG_BUILDERS)]
    for future in done:
        future.result()


class Board:
    """The jobs left and those running, handed out in order to connections
    that ask: the first whose table no running job holds against it."""

    def __init__(self, jobs: list[Job]) -> None:
        self._pending = list(jobs)
        self._running: list[Job] = []
        self._stopped = False
        self._changed = threading.Condition()

    def take(self) -> Job | None:
        """The next job free to run, waiting for one; None when none is left
        or a job failed."""
        with self._changed:
            while self._pending and not self._stopped:
                job = next((job for job in self._pending if self._free(job)), None)
                if job is not None:
                    self._pending.remove(job)
                    self._running.append(job)
                    return job
                self._changed.wait()
            return None

    def done(self, job: Job) -> None:
        with self._changed:
            self._running.remove(job)
            self._changed.notify_all()

    def stop(self) -> None:
        """Hand out nothing more: a job failed."""
        with self._changed:
            self._stopped = True
            self._changed.notify_all()

    def _free(self, job: Job) -> bool:
        return not any(
            other.table == job.table and (other.alone or job.alone)
            for other in self._running
        )


def _check_rows(engine: sa.Engine, tables: tuple[str, ...]) -> None:
    # Read-only: a plain BEGIN, not the writers' queue the build holds.
    with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        connection.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CHECK_CACHE_KIB}")
        connection.exec_driver_sql(f"PRAGMA mmap_size = {SQLITE_CHECK_MMAP_BYTES}")
        connection.commit()
        check_foreign_keys(connection, tables)
        check_constraints(connection, tables)


def check_foreign_keys(connection: sa.Connection, tables: tuple[str, ...]) -> None:
    """On SQLite, whose keys were off during the load, find any row of
    ``tables`` whose parent is missing (PostgreSQL checked them when they were
    added back)."""
    if connection.dialect.name == "postgresql":
        return
    with connection.begin():
        for table in tables:
            broken = connection.exec_driver_sql(
                f"PRAGMA foreign_key_check({table})"
            ).first()
            if broken is not None:
                table_, rowid, parent, _ = broken
                raise BrokenForeignKey(
                    f"{table_} row {rowid} names a missing {parent} row"
                )


def check_constraints(connection: sa.Connection, tables: tuple[str, ...]) -> None:
    """On SQLite, whose CHECK constraints were off during the load, find any
    row of ``tables`` that breaks one (PostgreSQL checked every row as it
    came)."""
    if connection.dialect.name == "postgresql":
        return
    with connection.begin():
        for table in tables:
            checks = _checks(connection.dialect, table)
            if not checks:
                continue
            broken = connection.exec_driver_sql(
                f"SELECT rowid FROM {table} WHERE {checks} LIMIT 1"  # noqa: S608
            ).first()
            if broken is not None:
                raise BrokenCheck(f"{table} row {broken[0]} breaks a CHECK constraint")


def _checks(dialect: sa.Dialect, table: str) -> str:
    """A condition true of any row that breaks one of the table's CHECK
    constraints, as the models name them (their SQL is the migration's)."""
    return " OR ".join(
        "NOT ({})".format(
            constraint.sqltext.compile(
                dialect=dialect, compile_kwargs={"literal_binds": True}
            )
        )
        for constraint in models.Base.metadata.tables[table].constraints
        if isinstance(constraint, sa.CheckConstraint)
    )


def _sqlite(connection: sa.Connection, tables: tuple[str, ...]) -> SetAside:
    # Indexes SQLite made for a PRIMARY KEY or UNIQUE constraint have no SQL.
    marks = ", ".join("?" * len(tables))
    query = (
        "SELECT name, tbl_name, sql FROM sqlite_master "  # noqa: S608
        f"WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({marks}) "
        "ORDER BY name"
    )
    with connection.begin():
        found = connection.exec_driver_sql(query, tables).all()
    rows = [row for row in found if row[0] not in SQLITE_KEPT_LIVE]
    return SetAside(
        drops=tuple(f'DROP INDEX "{name}"' for name, _, _ in rows),
        indexes=tuple((table, sql) for _, table, sql in rows),
    )


def _postgres(connection: sa.Connection, tables: tuple[str, ...]) -> SetAside:
    # An index behind any constraint (a primary key, a unique constraint, the
    # parent side of a foreign key) stays.
    with connection.begin():
        indexes = connection.exec_driver_sql(
            "SELECT format('DROP INDEX %%s', x.indexrelid::regclass), "
            "t.oid::regclass::text, pg_get_indexdef(x.indexrelid) FROM pg_index x "
            "JOIN pg_class t ON t.oid = x.indrelid "
            "WHERE t.relnamespace = current_schema()::regnamespace "
            "AND t.relname = ANY(%(tables)s) AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid) "
            "ORDER BY 1",
            {"tables": list(tables)},
        ).all()
        keys = connection.exec_driver_sql(
            "SELECT format('ALTER TABLE %%s DROP CONSTRAINT %%I', t.oid::regclass, "
            "k.conname), t.oid::regclass::text, "
            "format('ALTER TABLE %%s ADD CONSTRAINT %%I %%s NOT VALID', "
            "t.oid::regclass, k.conname, pg_get_constraintdef(k.oid)), "
            "format('ALTER TABLE %%s VALIDATE CONSTRAINT %%I', t.oid::regclass, "
            "k.conname) "
            "FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid "
            "WHERE k.contype = 'f' "
            "AND t.relnamespace = current_schema()::regnamespace "
            "AND t.relname = ANY(%(tables)s) ORDER BY 1",
            {"tables": list(tables)},
        ).all()
    # Keys come back after the load, checked over rows that are all in.
    return SetAside(
        drops=tuple(drop for drop, *_ in (*keys, *indexes)),
        indexes=tuple((table, build) for _, table, build in indexes),
        keys=tuple((table, add, check) for _, table, add, check in keys),
    )
