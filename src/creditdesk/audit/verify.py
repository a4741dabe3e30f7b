"""Verify the audit chain: every hash, every link, no gaps, and the head.

The read path is built for millions of entries (see creditdesk.audit.scan).
Large chains are split by seq range: on PostgreSQL across connections in
threads (the servers' backends do the hashing, so the GIL hardly matters),
on SQLite, which runs inside this process, across worker processes. Each
entry carries its predecessor's hash, so the ranges are stitched after.
"""

import itertools
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import (
    FIRST_EXCEPTION,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection, Engine

from creditdesk.audit.chain import GENESIS
from creditdesk.audit.scan import (
    Segment,
    init_worker,
    scan_range,
    scan_sqlite_range,
)

log = structlog.get_logger(__name__)

Progress = Callable[[int, int], None]

# Below this many entries a second process costs more than it saves.
PARALLEL_MIN_ENTRIES = 100_000


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """``checked`` counts the entries found intact before any problem."""

    ok: bool
    checked: int
    first_bad_seq: int | None
    problem: str | None


def verify(
    target: Engine | Connection,
    *,
    progress: Progress | None = None,
    workers: int | None = None,
) -> VerifyResult:
    """Check the whole chain; the result names the first bad seq, if any.

    ``progress(checked, total)`` is called as batches complete. ``workers``
    splits the chain by seq range (None: two for large chains on a
    multi-core machine): across processes on a SQLite file, across
    connections on PostgreSQL. A Connection is always read alone.
    """
    with _raw_connection(target) as (dialect, raw):
        head = _head(raw)
        total = head.seq if head.seq is not None else head.max_seq or 0
        # Below the first seq too: an entry renumbered down must be seen.
        start = min(head.min_seq or 1, 1) - 1
        parts = _parts(target, dialect, total - start, workers)
        edges = [start + (total - start) * i // parts for i in range(parts + 1)]
        ranges = list(itertools.pairwise(edges))
        if parts > 1 and dialect == "sqlite":
            database = str(target.url.database)  # _parts: a SQLite file
            segments = _scan_processes(database, ranges, total, progress)
        elif parts > 1:
            assert isinstance(target, Engine)  # _parts: one connection else
            segments = _scan_threads(target, ranges, total, progress)
        else:
            advance = _counter(progress, total)
            segments = [scan_range(dialect, raw, start, total, advance)]

    result = _conclude(segments, head)
    if result.ok:
        log.info("audit.verified", checked=result.checked)
    else:
        log.warning(
            "audit.chain_broken",
            first_bad_seq=result.first_bad_seq,
            problem=result.problem,
        )
    return result


@dataclass(frozen=True, slots=True)
class _Head:
    seq: int | None
    hash: str | None
    max_seq: int | None
    min_seq: int | None
    # Committed yet never sealed: PostgreSQL's sealing trigger is missing.
    unsealed: int = 0


def _head(raw: Any) -> _Head:
    # One statement, hence one snapshot: every entry up to the head's seq was
    # committed with it, so later range scans see them even in READ COMMITTED,
    # and an entry beyond the head is a forgery rather than a concurrent append.
    cursor = raw.cursor()
    cursor.execute(
        "SELECT (SELECT seq FROM audit_chain_head WHERE id = 1),"
        " (SELECT hash FROM audit_chain_head WHERE id = 1),"
        " (SELECT max(seq) FROM audit_entries),"
        " (SELECT min(seq) FROM audit_entries),"
        " (SELECT count(*) FROM audit_pending)"
    )
    seq, hash_, max_seq, min_seq, unsealed = cursor.fetchone()
    cursor.close()
    return _Head(seq, hash_, max_seq, min_seq, unsealed)


def _parts(
    target: Engine | Connection, dialect: str, entries: int, workers: int | None
) -> int:
    """How many seq ranges to check side by side."""
    if not isinstance(target, Engine):
        return 1
    if dialect == "sqlite":
        database = target.url.database
        if not database or not Path(database).is_file():
            return 1
    if workers is None:
        workers = 2 if entries >= PARALLEL_MIN_ENTRIES else 1
        workers = min(workers, os.cpu_count() or 1)
    return max(1, min(workers, entries))


@contextmanager
def _raw_connection(target: Engine | Connection) -> Iterator[tuple[str, Any]]:
    """The DB-API connection behind ``target`` and its dialect name.

    Driver errors leave as SQLAlchemy's, as they would from a session.
    """
    dbapi_error = target.dialect.loaded_dbapi.Error
    try:
        if isinstance(target, Connection):
            yield target.dialect.name, target.connection.driver_connection
            return

        # Only reads, and no SQLAlchemy-level BEGIN: on SQLite that would be
        # BEGIN IMMEDIATE and block every writer for the whole scan.
        with target.connect() as connection:
            driver = connection.connection.driver_connection
            try:
                yield connection.dialect.name, driver
            finally:
                driver.rollback()
    except dbapi_error as error:
        raise sa.exc.DBAPIError.instance(None, None, error, dbapi_error) from error


def _counter(progress: Progress | None, total: int) -> Callable[[int], None]:
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(done, total)

    return advance


def _conclude(segments: list[Segment], head: _Head) -> VerifyResult:
    """Stitch the ranges in seq order from the genesis, then check the head."""
    if head.unsealed:
        problem = (
            f"{head.unsealed} committed entries were never sealed into the chain "
            "(is the database migrated to the latest revision?)"
        )
        return VerifyResult(False, 0, None, problem)
    checked, expected, last = 0, 1, GENESIS
    for segment in segments:
        if segment.first_seq is None:
            continue
        if segment.first_seq != expected:
            bad = min(expected, segment.first_seq)
            problem = (
                f"entry {expected} is missing (next entry is {segment.first_seq})"
                if segment.first_seq > expected
                else f"entry {segment.first_seq} is out of sequence"
            )
            return VerifyResult(False, checked, bad, problem)
        if segment.first_prev != last:
            seq = segment.first_seq
            problem = (
                f"entry {seq} does not follow entry {seq - 1}: its prev_hash differs "
                "(an entry was removed, inserted or reordered)"
            )
            return VerifyResult(False, checked, seq, problem)
        if segment.bad_seq is not None:
            return VerifyResult(
                False, checked + segment.count, segment.bad_seq, segment.problem
            )
        assert segment.last_seq is not None and segment.last_hash is not None
        checked += segment.count
        expected, last = segment.last_seq + 1, segment.last_hash

    return _check_head(checked, expected - 1, last, head)


# TODO(audit-anchor): whoever can write the database directly can rewrite the
# chain from some entry onwards, rehash the rest and move the head, and the
# result verifies. Publishing the head's hash outside the database (signed,
# or to write-once storage) and checking against it would expose that.
def _check_head(
    checked: int, last_seq: int, last_hash: str, head: _Head
) -> VerifyResult:
    if head.seq is None:
        if checked == 0:
            return VerifyResult(True, 0, None, None)
        problem = "the chain head row is missing, so a removed tail cannot be ruled out"
        return VerifyResult(False, checked, None, problem)

    if head.max_seq is not None and head.max_seq > head.seq:
        problem = f"entry {head.seq + 1} lies beyond the chain head (seq {head.seq})"
        return VerifyResult(False, checked, head.seq + 1, problem)
    if last_seq < head.seq:
        problem = (
            f"entries {last_seq + 1} to {head.seq} are missing: "
            f"the chain head names seq {head.seq}"
        )
        return VerifyResult(False, checked, last_seq + 1, problem)
    if head.hash != last_hash:
        problem = f"the chain head does not match the hash of entry {head.seq}"
        return VerifyResult(False, checked, head.seq, problem)
    return VerifyResult(True, checked, None, None)


# Ranges checked side by side.


def _scan_processes(
    database: str, ranges: list[tuple[int, int]], total: int, progress: Progress | None
) -> list[Segment]:
    """Each range of a SQLite file in a worker process of its own."""
    # fork, not spawn: a spawned worker re-imports the parent's __main__ (the
    # whole CLI and web app, about a second) before it can start. The child
    # touches only a new sqlite3 connection and hashlib.
    context = multiprocessing.get_context(
        "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    )
    done = context.Value("q", 0)
    with ProcessPoolExecutor(
        len(ranges), mp_context=context, initializer=init_worker, initargs=(done,)
    ) as pool:
        futures = [
            pool.submit(scan_sqlite_range, database, lo, hi) for lo, hi in ranges
        ]
        return _gather(futures, lambda: done.value, total, progress)


def _scan_threads(
    engine: Engine, ranges: list[tuple[int, int]], total: int, progress: Progress | None
) -> list[Segment]:
    """Each range on a connection of its own; the server does the hashing."""
    lock = threading.Lock()
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        with lock:
            done += count

    def scan(lo: int, hi: int) -> Segment:
        with _raw_connection(engine) as (dialect, raw):
            return scan_range(dialect, raw, lo, hi, advance)

    with ThreadPoolExecutor(len(ranges), thread_name_prefix="audit-verify") as pool:
        futures = [pool.submit(scan, lo, hi) for lo, hi in ranges]
        return _gather(futures, lambda: done, total, progress)


def _gather(
    futures: list[Future[Segment]],
    done: Callable[[], int],
    total: int,
    progress: Progress | None,
) -> list[Segment]:
    pending = set(futures)
    while pending:
        finished, pending = wait(
            pending,
            timeout=None if progress is None else 0.2,
            return_when=FIRST_EXCEPTION,
        )
        if progress is not None:
            progress(done(), total)
        for future in finished:
            future.result()  # re-raise a worker's database error here
    return [future.result() for future in futures]
