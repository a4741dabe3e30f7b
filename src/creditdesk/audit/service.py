"""Record changes in the audit trail and read them back.

record() only buffers an entry on the session; a ``before_commit`` listener
hands the buffered entries to the chain, whose single head row orders every
append. On PostgreSQL they are queued in ``audit_pending`` and a deferred
trigger seals them inside the COMMIT (migration 0003), so the head's lock is
held without waiting on this process at all. On SQLite, where every
transaction already holds the write lock from BEGIN IMMEDIATE (see
creditdesk.db), the listener numbers the entries, hashes each over its
predecessor's hash and inserts them itself.

Entries recorded inside a savepoint that is rolled back are dropped with it;
nothing is written if the transaction rolls back.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy import event
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session, SessionTransaction

from creditdesk.actors import Actor
from creditdesk.audit.chain import (
    FORBIDDEN_CHARS,
    GENESIS,
    check_text,
    encode_changes,
    encode_entry,
    entry_hash,
    format_instant,
)
from creditdesk.audit.models import AuditChainHead, AuditEntry
from creditdesk.audit.verify import VerifyResult, verify
from creditdesk.db import is_postgres
from creditdesk.errors import ValidationFailed

__all__ = [
    "VerifyResult",
    "diff",
    "entries_for",
    "record",
    "search",
    "verify",
]

log = structlog.get_logger(__name__)

HEAD_ID = 1
_PENDING = "creditdesk.audit.pending"


@dataclass(frozen=True, slots=True)
class _Pending:
    """An entry waiting for the commit; ``scope`` is the savepoint it was in."""

    scope: SessionTransaction | None
    occurred_at: datetime | None
    actor_id: int | None
    actor_name: str
    channel: str
    entity_type: str
    entity_id: str
    action: str
    changes: str
    reason: str | None


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: int | str,
    changes: dict[str, tuple[object, object]] | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> None:
    """Add an entry to the audit trail when ``session`` commits.

    ``changes`` maps each field to its (old, new) value; values are stored as
    JSON (enums by value, datetimes as ISO UTC, dates as ISO). ``now`` comes
    from the caller's clock; without it the time of the commit is used.
    """
    if now is not None and now.tzinfo is None:
        raise ValueError("naive datetime given where UTC is required")
    if reason is not None and FORBIDDEN_CHARS.search(reason):
        raise ValidationFailed.on("reason", "the reason contains a control character")

    entry = _Pending(
        scope=session.get_nested_transaction(),
        occurred_at=now.astimezone(UTC) if now else None,
        actor_id=actor.user_id,
        actor_name=check_text("actor name", actor.name, 100),
        channel=check_text("channel", str(actor.channel), 16),
        entity_type=check_text("entity_type", entity_type, 40),
        entity_id=check_text("entity_id", str(entity_id), 64),
        action=check_text("action", action, 64),
        changes=encode_changes(changes),
        reason=reason,
    )
    session.info.setdefault(_PENDING, []).append(entry)


def diff(
    before: Mapping[str, object], after: Mapping[str, object]
) -> dict[str, tuple[object, object]]:
    """The fields whose value differs, as ``{field: (old, new)}``.

    A field missing on one side counts as None there.
    """
    changed: dict[str, tuple[object, object]] = {}
    for field in {**before, **after}:
        old, new = before.get(field), after.get(field)
        if old != new:
            changed[field] = (old, new)
    return changed


def entries_for(
    session: Session, *, entity_type: str, entity_id: int | str
) -> list[AuditEntry]:
    """The sealed history of one record, oldest first."""
    query = (
        sa.select(AuditEntry)
        .where(
            AuditEntry.entity_type == entity_type,
            AuditEntry.entity_id == str(entity_id),
        )
        .order_by(AuditEntry.seq)
    )
    return list(session.scalars(query))


def search(
    session: Session,
    *,
    entity_type: str | None = None,
    entity_id: int | str | None = None,
    actor_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int,
    before_seq: int | None = None,
) -> list[AuditEntry]:
    """Entries matching every given filter, newest first.

    ``since`` is inclusive and ``until`` exclusive; ``before_seq`` continues
    a previous page below that seq.
    """
    query = sa.select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)
    if entity_type is not None:
        query = query.where(AuditEntry.entity_type == entity_type)
    if entity_id is not None:
        query = query.where(AuditEntry.entity_id == str(entity_id))
    if actor_id is not None:
        query = query.where(AuditEntry.actor_id == actor_id)
    if since is not None:
        query = query.where(AuditEntry.occurred_at >= since)
    if until is not None:
        query = query.where(AuditEntry.occurred_at < until)
    if before_seq is not None:
        query = query.where(AuditEntry.seq < before_seq)
    return list(session.scalars(query))


@event.listens_for(Session, "before_commit")
def _seal_pending(session: Session) -> None:
    # This also fires when a savepoint is released; only the outer commit
    # seals, as the savepoint may still be rolled back with its parent.
    if session.in_nested_transaction() or not session.info.get(_PENDING):
        return
    # The caller's own changes go first, so the head lock is taken last.
    session.flush()
    pending = session.info.pop(_PENDING)
    if is_postgres(session):
        _queue(session, pending)
    else:
        _seal(session, pending)


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous: SessionTransaction) -> None:
    pending = session.info.get(_PENDING)
    if not pending:
        return
    if not previous.nested:
        session.info.pop(_PENDING, None)
        return
    session.info[_PENDING] = [e for e in pending if not _within(e.scope, previous)]


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    # The outer transaction is over: its entries were sealed or abandoned.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


def _within(scope: SessionTransaction | None, transaction: SessionTransaction) -> bool:
    while scope is not None:
        if scope is transaction:
            return True
        scope = scope.parent
    return False


def _queue(session: Session, pending: list[_Pending]) -> None:
    """Leave ``pending`` to the trigger that seals it as COMMIT runs."""
    queued_at = datetime.now(UTC)
    rows = [_fields(entry, entry.occurred_at or queued_at) for entry in pending]
    # One statement of column arrays, whatever the count: the same text every
    # time, and one round trip where executemany() would open a pipeline.
    columns = {name: [row[name] for row in rows] for name in _QUEUED_COLUMNS}
    session.connection().execute(_QUEUE_ENTRIES, columns)
    log.debug("audit.queued", entries=len(rows))


def _seal(session: Session, pending: list[_Pending]) -> None:
    """Chain ``pending`` onto the head and insert it, under the write lock."""
    connection = session.connection()
    seq, prev_hash = _head(connection)
    first_seq = seq + 1
    sealed_at = datetime.now(UTC)

    rows = []
    for entry in pending:
        seq += 1
        fields = _fields(entry, entry.occurred_at or sealed_at)
        encoded = {**fields, "occurred_at": format_instant(fields["occurred_at"])}
        digest = entry_hash(encode_entry(seq=seq, prev_hash=prev_hash, **encoded))
        rows.append({**fields, "seq": seq, "prev_hash": prev_hash, "hash": digest})
        prev_hash = digest

    # Every change is flushed by now (see _seal_pending), so the chain's own
    # statements run on the connection, below the ORM's execution layer.
    connection.execute(_INSERT_ENTRIES, rows)
    connection.execute(_MOVE_HEAD, {"seq": seq, "hash": prev_hash})
    log.debug("audit.sealed", first_seq=first_seq, last_seq=seq)


def _fields(entry: _Pending, occurred_at: datetime) -> dict[str, Any]:
    """The columns an entry brings; the chain adds seq, prev_hash and hash."""
    return {
        "occurred_at": occurred_at,
        "actor_id": entry.actor_id,
        "actor_name": entry.actor_name,
        "channel": entry.channel,
        "entity_type": entry.entity_type,
        "entity_id": entry.entity_id,
        "action": entry.action,
        "changes": entry.changes,
        "reason": entry.reason,
    }


def _head(connection: sa.Connection) -> tuple[int, str]:
    """The head's (seq, hash); the caller holds SQLite's write lock."""
    row = connection.execute(_READ_HEAD).first()
    if row is None:
        # Migration 0002 seeds the head; this covers a schema built otherwise.
        seed = sqlite.insert(_HEAD).values(id=HEAD_ID, seq=0, hash=GENESIS)
        connection.execute(seed.on_conflict_do_nothing())
        row = connection.execute(_READ_HEAD).one()
    return row.seq, row.hash


# Each commit that changed anything runs some of these: built once, bound
# per call.
_HEAD = AuditChainHead.__table__
_READ_HEAD = sa.select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == HEAD_ID)
_MOVE_HEAD = (
    sa.update(_HEAD)
    .where(_HEAD.c.id == HEAD_ID)
    .values(seq=sa.bindparam("seq"), hash=sa.bindparam("hash"))
)
_INSERT_ENTRIES = sa.insert(AuditEntry.__table__)

# PostgreSQL: the entries as one array per column, unnested in their order.
_QUEUED_COLUMNS = (
    "occurred_at",
    "actor_id",
    "actor_name",
    "channel",
    "entity_type",
    "entity_id",
    "action",
    "changes",
    "reason",
)
_QUEUE_ENTRIES = sa.text("""
    INSERT INTO audit_pending (occurred_at, actor_id, actor_name, channel,
                               entity_type, entity_id, action, changes, reason)
    SELECT occurred_at, actor_id, actor_name, channel,
           entity_type, entity_id, action, changes, reason
    FROM unnest(
        CAST(:occurred_at AS timestamptz[]), CAST(:actor_id AS bigint[]),
        CAST(:actor_name AS text[]), CAST(:channel AS text[]),
        CAST(:entity_type AS text[]), CAST(:entity_id AS text[]),
        CAST(:action AS text[]), CAST(:changes AS text[]),
        CAST(:reason AS text[])
    ) WITH ORDINALITY AS e (occurred_at, actor_id, actor_name, channel,
                            entity_type, entity_id, action, changes, reason,
                            position)
    ORDER BY position
""")
