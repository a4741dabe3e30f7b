"""The canonical encoding that each audit entry's SHA-256 hash covers.

An entry's hash is SHA-256 over its fields joined by the unit separator
(U+001F), which record() refuses inside any text field and canonical JSON
always escapes. With a fixed number of separator-free fields the join is
unambiguous, and it is cheap to rebuild: the databases concatenate the
stored column text in SQL (:func:`payload_sql`), so verification never
parses JSON or builds ORM objects.

Fields, in order: version, seq, prev_hash, occurred_at, actor_id, actor_name,
channel, entity_type, entity_id, action, changes, reason. ``occurred_at`` is
written ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC (exactly SQLite's stored text);
the nullable ``actor_id`` and ``reason`` are ``-`` when NULL and ``#value``
otherwise, so NULL and an empty string never encode alike.
"""

import hashlib
import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

VERSION = "creditdesk.audit.v1"
SEP = "\x1f"
GENESIS = "0" * 64

# C0 controls other than tab, newline and carriage return: PostgreSQL cannot
# store NUL and the separator must not occur inside a field.
FORBIDDEN_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def format_instant(moment: datetime) -> str:
    """``moment`` as the canonical UTC text, microseconds always written."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given where UTC is required")
    u = moment.astimezone(UTC)
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d} "
        f"{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond:06d}"
    )


def _optional(value: object) -> str:
    return "-" if value is None else f"#{value}"


def encode_entry(
    *,
    seq: int,
    prev_hash: str,
    occurred_at: str,
    actor_id: int | None,
    actor_name: str,
    channel: str,
    entity_type: str,
    entity_id: str,
    action: str,
    changes: str,
    reason: str | None,
) -> bytes:
    """The bytes an entry's hash covers (``occurred_at`` already canonical)."""
    fields = (
        VERSION,
        str(seq),
        prev_hash,
        occurred_at,
        _optional(actor_id),
        actor_name,
        channel,
        entity_type,
        entity_id,
        action,
        changes,
        _optional(reason),
    )
    return SEP.join(fields).encode()


def entry_hash(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def payload_sql(dialect: str) -> str:
    """A SQL expression building :func:`encode_entry`'s bytes from the columns."""
    if dialect == "postgresql":
        return f"convert_to({payload_text_sql(dialect)}, 'UTF8')"
    return f"CAST({payload_text_sql(dialect)} AS BLOB)"


def payload_text_sql(dialect: str) -> str:
    """:func:`payload_sql` as text (UTF-8 in both databases), not yet bytes.

    Concatenation with ``||`` rather than printf()/format(): SQLite's printf
    stops at an embedded NUL, which would let a forged suffix go unhashed.
    And ``||`` makes the whole payload NULL if a column is NULL, where
    concat_ws() would skip it and let a neighbour's text take its place.
    """
    if dialect == "postgresql":
        sep = "E'\\x1f'"
        version = f"'{VERSION}'"
        instant = "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
    else:
        # Bound once per statement as :v and :s (see PAYLOAD_PARAMS).
        sep, version, instant = ":s", ":v", "occurred_at"
    parts = (
        version,
        "seq",
        "prev_hash",
        instant,
        "COALESCE('#' || actor_id, '-')",
        "actor_name",
        "channel",
        "entity_type",
        "entity_id",
        "action",
        "changes",
        "COALESCE('#' || reason, '-')",
    )
    return f" || {sep} || ".join(parts)


# The parameters payload_sql("sqlite") expects.
PAYLOAD_PARAMS = {"v": VERSION, "s": SEP}


def check_text(name: str, value: str, max_length: int | None = None) -> str:
    """``value`` if it can be stored and hashed unambiguously, else ValueError."""
    if FORBIDDEN_CHARS.search(value):
        raise ValueError(f"{name} contains a control character")
    if max_length is not None and len(value) > max_length:
        raise ValueError(f"{name} is longer than {max_length} characters")
    return value


# Returned as they are; checked by exact type, as a str or int enum member
# must still become its value.
_PLAIN_TYPES = frozenset({str, int, bool, type(None)})


def normalise(value: Any) -> Any:
    """``value`` as plain JSON data: enums by value, times as ISO text."""
    if type(value) in _PLAIN_TYPES:
        return value
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, Mapping):
        return {_key(k): normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [normalise(v) for v in value]
        if isinstance(value, set | frozenset):
            items.sort(key=canonical_json)
        return items
    return _scalar(value)


def _scalar(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in audit changes; use aware UTC")
        value = value.astimezone(UTC)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("non-finite float in audit changes")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"cannot record a {type(value).__name__} in the audit trail")


def _key(key: Any) -> str:
    key = normalise(key)
    return key if isinstance(key, str) else canonical_json(key)


def canonical_json(value: Any) -> str:
    """Compact, key-sorted JSON; the same data always gives the same text."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def encode_changes(changes: Mapping[str, tuple[object, object]] | None) -> str:
    """``{"field": [old, new], ...}`` as canonical JSON."""
    data = {}
    for field, pair in (changes or {}).items():
        if not isinstance(field, str):
            raise TypeError("audit change keys are field names (str)")
        old, new = pair
        data[field] = [normalise(old), normalise(new)]
    return canonical_json(data)
