"""Whole batches of the audit chain as a few strings each, for the fast check.

Per batch of seqs the database returns the entry count, the prev_hash and
hash columns joined by commas and, on SQLite, every entry's canonical
encoding joined by U+001E; PostgreSQL hashes the encodings itself and
returns how many match. That is four values per batch instead of four per
entry, and the check is string equality on whole batches.

The joins are exact: a hash that equals a hex digest holds no comma, and
record() refuses U+001E in any field, so a tampered field holding one
splits into more pieces than there are entries and the batch fails. A
failed batch is read again row by row (:mod:`creditdesk.audit.scan`), which
decides; this module only ever says "intact" or "look closer".
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from creditdesk.audit.chain import PAYLOAD_PARAMS, payload_sql, payload_text_sql

BATCH = 20_000
RECORD_SEP = "\x1e"


@dataclass(frozen=True, slots=True)
class Batch:
    """Entries lo < seq <= hi; ``payloads`` is None where the server hashed."""

    lo: int
    hi: int
    entries: int
    prevs: str | None
    hashes: str | None
    payloads: bytes | None = None
    intact: int | None = None


def read_batches(
    dialect: str, raw: Any, lo: int, hi: int, size: int = BATCH
) -> Iterator[Batch]:
    """Summaries of consecutive seq batches covering lo < seq <= hi, in order.

    One statement per batch: an ordered stream of batches from a single
    statement would need a sort of them all on PostgreSQL first.
    """
    query = _POSTGRES_BATCH if dialect == "postgresql" else _sqlite_batch()
    extra = {} if dialect == "postgresql" else {"r": RECORD_SEP, **PAYLOAD_PARAMS}
    cursor = raw.cursor()
    try:
        for start in range(lo, hi, size):
            end = min(start + size, hi)
            cursor.execute(query, {"lo": start, "hi": end, **extra})
            entries, checked, prevs, hashes = cursor.fetchone()
            if dialect == "postgresql":
                yield Batch(start, end, entries, prevs, hashes, intact=checked)
            else:
                yield Batch(start, end, entries, prevs, hashes, payloads=checked)
    finally:
        cursor.close()


def _sqlite_batch() -> str:
    # Ordered subquery: SQLite feeds group_concat() in the order it scans.
    payload = payload_text_sql("sqlite")
    return (
        "SELECT count(*), CAST(group_concat(payload, :r) AS BLOB),"  # noqa: S608
        " group_concat(prev_hash, ','), group_concat(hash, ',')"
        f" FROM (SELECT prev_hash, hash, {payload} AS payload"
        " FROM audit_entries WHERE seq > :lo AND seq <= :hi ORDER BY seq)"
    )


# The server hashes; compared as text, so an upper-case rewrite of a hash is
# found as it is on the row-by-row path. string_agg() takes the ordered
# subquery's order (PostgreSQL documents that this holds unless the outer
# level joins); were it ever lost, the batch would fail its link check and
# be read row by row, so it would cost time, never a wrong verdict.
_POSTGRES_BATCH = f"""
    SELECT count(*),
           count(*) FILTER (WHERE encode(sha256(payload), 'hex') = hash),
           string_agg(prev_hash, ','),
           string_agg(hash, ',')
    FROM (
        SELECT prev_hash, hash, {payload_sql("postgresql")} AS payload
        FROM audit_entries
        WHERE seq > %(lo)s AND seq <= %(hi)s
        ORDER BY seq
    ) AS e
"""  # noqa: S608 - no user input


def digests_match(batch: Batch, sha256: Any) -> bool:
    """Whether every entry's hash is the SHA-256 of its encoding, in order."""
    if batch.payloads is None:
        return batch.intact == batch.entries
    payloads = batch.payloads.split(RECORD_SEP.encode())
    if len(payloads) != batch.entries:
        return False
    return ",".join([sha256(p).hexdigest() for p in payloads]) == batch.hashes


def links_match(batch: Batch, last_hash: str | None) -> tuple[bool, str]:
    """Whether each prev_hash names the hash before it; also the first one.

    Call after :func:`digests_match`, which makes every joined hash exactly
    64 characters. ``last_hash`` is None at the start of a scanned range,
    whose first link the caller checks.
    """
    assert batch.prevs is not None and batch.hashes is not None
    first_prev, _, rest = batch.prevs.partition(",")
    linked = rest == batch.hashes[:-65] and last_hash in (None, first_prev)
    return linked, first_prev
