"""Read one seq range of the audit chain and check it, batch by batch.

Rows come straight from the DB-API cursor in large batches; the database
concatenates each entry's canonical encoding
(:func:`creditdesk.audit.chain.payload_sql`), so a batch is checked with one
list comprehension of SHA-256 digests and C-level slice and list equality.
Only a batch that fails is walked row by row to name the first bad entry.
"""

import hashlib
import itertools
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg

from creditdesk.audit.chain import PAYLOAD_PARAMS, payload_sql

Row = tuple[int, str, str, bytes | None]

BATCH = 20_000
# libpq 17 added chunked rows, which psycopg's stream(size=...) needs.
LIBPQ_CHUNKS = psycopg.pq.version() >= 170000


@dataclass(slots=True)
class Segment:
    """What a scan of one seq range found; ranges are stitched afterwards."""

    count: int = 0
    first_seq: int | None = None
    first_prev: str | None = None
    last_seq: int | None = None
    last_hash: str | None = None
    bad_seq: int | None = None
    problem: str | None = None


def read_rows(dialect: str, raw: Any, lo: int, hi: int) -> Iterator[list[Row]]:
    """Batches of (seq, prev_hash, hash, payload) for lo < seq <= hi, in order."""
    columns = f"seq, prev_hash, hash, {payload_sql(dialect)}"
    if dialect == "postgresql":
        yield from postgres_rows(raw, columns, lo, hi, chunked=LIBPQ_CHUNKS)
        return

    cursor = raw.cursor()
    cursor.execute(
        f"SELECT {columns} FROM audit_entries"  # noqa: S608 - no user input
        " WHERE seq > :lo AND seq <= :hi ORDER BY seq",
        {"lo": lo, "hi": hi, **PAYLOAD_PARAMS},
    )
    try:
        while batch := cursor.fetchmany(BATCH):
            yield batch
    finally:
        cursor.close()


def postgres_rows(
    raw: Any, columns: str, lo: int, hi: int, *, chunked: bool
) -> Iterator[list[Row]]:
    """read_rows() for PostgreSQL: streamed in chunks, or via a cursor."""
    query = (
        f"SELECT {columns} FROM audit_entries"  # noqa: S608 - no user input
        " WHERE seq > %(lo)s AND seq <= %(hi)s ORDER BY seq"
    )
    params = {"lo": lo, "hi": hi}
    if chunked:
        # Chunked streaming: the server keeps producing while we hash.
        cursor = raw.cursor(binary=True)
        stream = cursor.stream(query, params, size=2_000)
        try:
            while batch := list(itertools.islice(stream, BATCH)):
                yield batch
        finally:
            stream.close()
            cursor.close()
        return

    # A server-side cursor works with any libpq, but the server idles while
    # we hash each batch. The psycopg[binary] wheels bundle a newer libpq.
    with raw.cursor(name="audit_verify", binary=True) as cursor:
        cursor.execute(query, params)
        while batch := cursor.fetchmany(BATCH):
            yield batch


def check_rows(batches: Iterator[list[Row]], advance: Callable[[int], None]) -> Segment:
    """Check one seq range; its first row's own seq and link are the caller's."""
    segment = Segment()
    sha256 = hashlib.sha256
    expected, last = 0, ""
    for batch in batches:
        seqs, prevs, hashes, payloads = zip(*batch, strict=True)
        if segment.first_seq is None:
            segment.first_seq, segment.first_prev = seqs[0], prevs[0]
            expected, last = seqs[0], prevs[0]

        size = len(batch)
        try:
            intact = (
                seqs[0] == expected
                and seqs[-1] == expected + size - 1
                and prevs[0] == last
                and prevs[1:] == hashes[:-1]
                and [sha256(p).hexdigest() for p in payloads] == list(hashes)
            )
        except TypeError:  # a NULL where the schema forbids one
            intact = False
        if not intact:
            _locate(segment, batch, expected, last)
            return segment

        segment.count += size
        expected += size
        last = hashes[-1]
        segment.last_seq, segment.last_hash = seqs[-1], last
        advance(size)
    return segment


def _locate(segment: Segment, batch: list[Row], expected: int, last: str) -> None:
    """Walk a failed batch row by row and record its first problem."""
    for seq, prev_hash, hash_, payload in batch:
        if seq != expected:
            segment.bad_seq = expected
            segment.problem = f"entry {expected} is missing (next entry is {seq})"
            return
        if prev_hash != last:
            segment.bad_seq = seq
            segment.problem = (
                f"entry {seq} does not follow entry {seq - 1}: its prev_hash differs "
                "(an entry was removed, inserted or reordered)"
            )
            return
        if payload is None or hashlib.sha256(payload).hexdigest() != hash_:
            segment.bad_seq = seq
            segment.problem = (
                f"entry {seq} was altered: its content does not match its hash"
            )
            return
        segment.count += 1
        segment.last_seq, segment.last_hash = seq, hash_
        expected, last = seq + 1, hash_


# Worker processes (see creditdesk.audit.verify._scan_parallel).

_shared_progress: Any = None


def init_worker(done: Any) -> None:
    global _shared_progress  # noqa: PLW0603 - one counter per worker process
    _shared_progress = done


def scan_sqlite_range(database: str, lo: int, hi: int) -> Segment:
    """Check lo < seq <= hi of a SQLite file, in a worker process."""
    connection = sqlite3.connect(database, isolation_level=None, timeout=30)
    try:
        return check_rows(read_rows("sqlite", connection, lo, hi), _add_shared)
    finally:
        connection.close()


def _add_shared(count: int) -> None:
    with _shared_progress.get_lock():
        _shared_progress.value += count
