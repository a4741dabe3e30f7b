"""Check one seq range of the audit chain, batch by batch.

Each batch is first checked whole from its summary
(:mod:`creditdesk.audit.batches`): the right number of entries, every hash
the digest of its entry's encoding, every prev_hash its predecessor's hash.
Only a batch that fails is read again row by row, straight from the DB-API
cursor with the database concatenating each encoding
(:func:`creditdesk.audit.chain.payload_sql`), and walked to name the first
bad entry; that walk, hashing in this process, has the last word.
"""

import hashlib
import itertools
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import psycopg

from creditdesk.audit.batches import (
    BATCH,
    Batch,
    digests_match,
    links_match,
    read_batches,
)
from creditdesk.audit.chain import PAYLOAD_PARAMS, payload_sql

Row = tuple[int, str, str, bytes | None]

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


def scan_range(
    dialect: str,
    raw: Any,
    lo: int,
    hi: int,
    advance: Callable[[int], None],
    *,
    size: int = BATCH,
) -> Segment:
    """Check lo < seq <= hi; its first entry's own seq and link are the caller's."""
    segment = Segment()
    start = lo
    while start < hi:
        with closing(read_batches(dialect, raw, start, hi, size)) as batches:
            failed = check_batches(segment, batches, advance)
        if failed is None:
            break
        # Its summary cursor is closed first; the rows say which entry is bad.
        with closing(read_rows(dialect, raw, failed.lo, failed.hi)) as rows:
            before = segment.count
            walk_rows(segment, rows)
        if segment.bad_seq is not None:
            break
        advance(segment.count - before)
        start = failed.hi
    return segment


def check_batches(
    segment: Segment, batches: Iterator[Batch], advance: Callable[[int], None]
) -> Batch | None:
    """Take in the batches that are intact as a whole; return the first other."""
    sha256 = hashlib.sha256
    for batch in batches:
        expected = batch.lo + 1 if segment.last_seq is None else segment.last_seq + 1
        if batch.entries != batch.hi - batch.lo or expected != batch.lo + 1:
            return batch
        if not digests_match(batch, sha256):
            return batch
        linked, first_prev = links_match(batch, segment.last_hash)
        if not linked:
            return batch

        assert batch.hashes is not None
        if segment.first_seq is None:
            segment.first_seq, segment.first_prev = expected, first_prev
        segment.count += batch.entries
        segment.last_seq, segment.last_hash = batch.hi, batch.hashes[-64:]
        advance(batch.entries)
    return None


def walk_rows(segment: Segment, batches: Iterator[list[Row]]) -> None:
    """Go on checking ``segment`` entry by entry; stop at its first problem."""
    sha256 = hashlib.sha256
    for batch in batches:
        for seq, prev_hash, hash_, payload in batch:
            if segment.last_seq is None:
                segment.first_seq, segment.first_prev = seq, prev_hash
            elif seq != segment.last_seq + 1:
                expected = segment.last_seq + 1
                segment.bad_seq = expected
                segment.problem = f"entry {expected} is missing (next entry is {seq})"
                return
            elif prev_hash != segment.last_hash:
                segment.bad_seq = seq
                segment.problem = (
                    f"entry {seq} does not follow entry {seq - 1}: its prev_hash "
                    "differs (an entry was removed, inserted or reordered)"
                )
                return
            if payload is None or sha256(payload).hexdigest() != hash_:
                segment.bad_seq = seq
                segment.problem = (
                    f"entry {seq} was altered: its content does not match its hash"
                )
                return
            segment.count += 1
            segment.last_seq, segment.last_hash = seq, hash_


# Worker processes (see creditdesk.audit.verify._scan_parallel).

_shared_progress: Any = None


def init_worker(done: Any) -> None:
    global _shared_progress  # noqa: PLW0603 - one counter per worker process
    _shared_progress = done


def scan_sqlite_range(database: str, lo: int, hi: int) -> Segment:
    """Check lo < seq <= hi of a SQLite file, in a worker process."""
    connection = sqlite3.connect(database, isolation_level=None, timeout=30)
    try:
        return scan_range("sqlite", connection, lo, hi, _add_shared)
    finally:
        connection.close()


def _add_shared(count: int) -> None:
    with _shared_progress.get_lock():
        _shared_progress.value += count
