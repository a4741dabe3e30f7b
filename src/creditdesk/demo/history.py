"""``write_history``: a large, realistic credit history written fast.

Two years of a contact centre up to now, ``scale`` credits with their cases,
approvals, work items, postings, ledger memos, voids and reconciliation runs,
and the accounts' monthly invoices
(see ``history_plan`` for what is generated and ``history_write`` for how it
is stored). Deterministic for a seed and a ``now``.

Per-change audit entries are not written for the generated rows: the
service's chain hashes each entry one after another, and writing one for
every move of every credit would cost more than the rest of the history.
One sealed entry (``demo.history_written``) records that the history was
generated, with its seed and counts, so ``creditdesk audit verify`` passes.
"""

import gc
import marshal
import multiprocessing
import random
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import structlog

from creditdesk.actors import Actor, Channel
from creditdesk.audit import service as audit
from creditdesk.clock import system_clock
from creditdesk.db import create_engine, make_session_factory, transaction
from creditdesk.demo.history_invoices import invoices, with_teams
from creditdesk.demo.history_org import OPERATIONS_TEAM, build_org
from creditdesk.demo.history_plan import Planner
from creditdesk.demo.history_rows import Ids
from creditdesk.demo.history_time import Stamps
from creditdesk.demo.history_write import (
    after_load,
    flatten,
    free_ids,
    loading,
    write,
)
from creditdesk.errors import Conflict
from creditdesk.policy import service as policy
from creditdesk.users.models import Team

log = structlog.get_logger(__name__)

# TODO(history-audit): the generated rows get no audit entries of their own,
# so a generated credit's history endpoint shows no trail. Building the
# entries the service writes (about six per credit) in the generating process
# and sealing each chunk onto the chain head with audit.chain would fix it,
# at roughly twice the rows and time.
#
# TODO(history-speed): on PostgreSQL a million credits take 46 to 50 s on
# two cores (19,950 to 21,700 a second, the aim being 20,000), with both
# cores busy throughout: generating, copying and the server's COPY for
# 34 s, the index builds, key checks and statistics for 15 s. Only less
# processor time shortens it: narrower report indexes (their multi-column
# keys are most of the builds' comparisons), or rows reaching the server in
# COPY's binary format, sparing it the parsing of every time and number.
CHUNK_CREDITS = 10_000
# Chunks made ahead of the writer, each a file of a few megabytes: enough
# for the generator to keep going while the invoices are written.
QUEUED_CHUNKS = 16
HISTORY_ACTOR = Actor.system(Channel.CLI, name="demo-history")

# progress(done, total): credits written so far, out of ``scale``.
Progress = Callable[[int, int], None]


class HistoryExists(Conflict):
    """The database already holds a generated history."""


@dataclass(frozen=True, slots=True)
class HistoryStats:
    """What ``write_history`` wrote, and how long it took."""

    credits: int
    cases: int
    accounts: int
    users: int
    approval_requests: int
    work_items: int
    outbox_messages: int
    ledger_memos: int
    reconciliation_runs: int
    rows: int
    seconds: float

    @property
    def credits_per_second(self) -> int:
        """Whole credits per second (rounded down); 0 for an instant run."""
        return int(self.credits / self.seconds) if self.seconds > 0 else 0


def write_history(
    url: str,
    *,
    scale: int,
    seed: int = 0,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> HistoryStats:
    """Write ``scale`` credits of history into the migrated database at ``url``.

    ``progress(done, total)`` is called after every committed chunk with the
    credits written so far and ``scale``. ``now`` ends the history (default:
    the system clock); the same seed and ``now`` give the same rows on an
    empty database. Raises HistoryExists if one was written there before.
    """
    if scale < 1:
        raise ValueError("scale must be at least 1")
    started = time.perf_counter()
    moment = now or system_clock()
    engine = create_engine(url, poolclass=sa.pool.NullPool)
    try:
        factory = make_session_factory(engine)
        with transaction(factory) as session:
            if session.scalar(sa.select(Team.id).where(Team.name == OPERATIONS_TEAM)):
                raise HistoryExists("the database already has a generated history")
            active = policy.active_policy(session, now=moment, actor=HISTORY_ACTOR)

        counts: dict[str, int] = {}
        with engine.connect() as connection:
            with loading(connection):
                counts = _load(connection, active, moment, scale, seed, progress)
            with connection.begin():
                after_load(connection)

        seconds = time.perf_counter() - started
        stats = HistoryStats(
            credits=counts.get("billing_credits", 0),
            cases=counts.get("cases", 0),
            accounts=counts.get("accounts", 0),
            users=counts.get("users", 0),
            approval_requests=counts.get("approval_requests", 0),
            work_items=counts.get("work_items", 0),
            outbox_messages=counts.get("outbox_messages", 0),
            ledger_memos=counts.get("ledger_memos", 0),
            reconciliation_runs=counts.get("reconciliation_runs", 0),
            rows=sum(counts.values()),
            seconds=seconds,
        )
        with transaction(factory) as session:
            _record(session, stats, seed=seed, now=moment)
    finally:
        engine.dispose()
    log.info(
        "demo.history_written",
        credits=stats.credits,
        cases=stats.cases,
        seconds=round(stats.seconds, 1),
        credits_per_second=stats.credits_per_second,
    )
    return stats


def _load(
    connection: sa.Connection,
    active: policy.ActivePolicy,
    now: datetime,
    scale: int,
    seed: int,
    progress: Progress | None,
) -> dict[str, int]:
    rng = random.Random(seed)  # noqa: S311 - reproducible, not a secret
    stamps = Stamps(now)
    counts: dict[str, int] = {}

    def commit(tables: dict[str, list]) -> None:
        with connection.begin():
            written = write(connection, tables)
        for table, rows in written.items():
            counts[table] = counts.get(table, 0) + rows

    with connection.begin():
        bases = free_ids(connection)
    org = build_org(rng, scale=scale, bases=bases, stamps=stamps)
    planner = Planner(
        rng,
        org,
        policy=active.policy,
        version=active.version,
        stamps=stamps,
        ids=Ids(bases),
        scale=scale,
    )
    with _generating(planner) as chunks:
        # The organisation and the invoices are written while the first
        # credits are generated; the invoices' ids are counted apart, as the
        # planner takes none of them.
        commit(
            flatten(
                {
                    "teams": org.teams,
                    "users": org.users,
                    "accounts": with_teams(org),
                    "contracts": org.contracts,
                }
            )
        )
        for part in invoices(org, stamps, Ids(bases), seed=seed):
            commit(flatten({"invoices": part}))
        for tables in chunks:
            commit(tables)
            if progress is not None:
                progress(counts.get("billing_credits", 0), scale)
    return counts


@contextmanager
def _generating(planner: Planner) -> Iterator[Iterator[dict[str, list]]]:
    """The planner's chunks, generated in a forked process where there is one.

    Generating takes about twice as long as storing, so on two cores the
    next chunks are made while the last one is stored, and the child never
    waits for the parent. The child only computes; the parent keeps the
    database connection. It starts on entry, and is stopped on exit if it
    has not finished.
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        yield _chunks(planner)
        return

    context = multiprocessing.get_context("fork")
    queue = context.Queue(maxsize=QUEUED_CHUNKS)
    with tempfile.TemporaryDirectory(prefix="creditdesk-history-") as spool:
        child = context.Process(
            target=_produce, args=(planner, queue, Path(spool)), daemon=True
        )
        child.start()
        try:
            yield _received(queue)
        finally:
            if child.is_alive():
                child.terminate()
            child.join()


def _received(queue: Any) -> Iterator[dict[str, list]]:
    while (item := queue.get()) is not None:
        kind, value = item
        if kind == "failed":
            raise RuntimeError(f"generating the history failed: {value}")
        chunk = Path(value)
        data = chunk.read_bytes()
        chunk.unlink()
        yield marshal.loads(data)  # noqa: S302 - our own child's bytes


def _produce(planner: Planner, queue: Any, spool: Path) -> None:
    # A chunk goes through a file and only its name through the queue: the
    # queue's feeder thread would need the interpreter lock back for every
    # 64 KB the pipe takes, and wait for it behind the generating thread.
    # The planner makes no reference cycles, and the collector's passes over
    # its millions of live objects took a quarter of this process's time.
    gc.disable()
    try:
        for number, tables in enumerate(_chunks(planner)):
            path = spool / f"chunk-{number:06d}"
            # Plain lists of text, numbers and None: marshal encodes and
            # decodes them several times faster than pickle.
            path.write_bytes(marshal.dumps(tables))
            queue.put(("chunk", str(path)))
    except Exception:
        queue.put(("failed", traceback.format_exc()))
        return
    queue.put(None)


def _chunks(planner: Planner) -> Iterator[dict[str, list]]:
    return (chunk.tables for chunk in planner.chunks(CHUNK_CREDITS))


def _record(
    session: sa.orm.Session, stats: HistoryStats, *, seed: int, now: datetime
) -> None:
    audit.record(
        session,
        actor=HISTORY_ACTOR,
        action="demo.history_written",
        entity_type="demo",
        entity_id=f"history-seed-{seed}",
        changes={
            "seed": (None, seed),
            "credits": (None, stats.credits),
            "cases": (None, stats.cases),
            "accounts": (None, stats.accounts),
            "rows": (None, stats.rows),
        },
        reason="generated history: its rows carry no audit entries of their own",
        now=now,
    )
