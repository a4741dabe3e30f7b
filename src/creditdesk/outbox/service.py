"""Outbox use cases: enqueue with a change, claim with a lease, settle, retry.

Delivery is at least once. A worker claims due rows in a short transaction of
its own and holds them by lease; if it dies, the lease expires and another
worker claims the row again. Receivers therefore get the message id as their
idempotency key.
"""

import random
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.actors import Actor
from creditdesk.audit import service as audit
from creditdesk.config import Settings
from creditdesk.db import is_postgres, transaction
from creditdesk.errors import InvalidState, NotFound
from creditdesk.outbox.errors import LeaseLost
from creditdesk.outbox.models import OutboxMessage, OutboxStatus

log = structlog.get_logger(__name__)

ENTITY_TYPE = "outbox_message"

# Enough of a stack trace or a vendor's answer to act on, without letting one
# noisy receiver fill the table.
MAX_ERROR_CHARS = 4000

# 2**60 base periods is far beyond any cap; it keeps the float finite.
_MAX_EXPONENT = 60

_jitter = random.SystemRandom()


@dataclass(frozen=True, slots=True)
class Claim:
    """A leased message as a handler sees it, detached from any session."""

    id: int
    topic: str
    payload: dict[str, Any]
    attempts: int


def enqueue(
    session: Session, *, topic: str, payload: dict[str, Any], now: datetime
) -> OutboxMessage:
    """Add a message to the outbox and return it with its id; it leaves only
    when the caller commits."""
    message = OutboxMessage(**_pending(topic, payload, now))
    session.add(message)
    session.flush()
    log.debug("outbox.enqueued", message_id=message.id, topic=topic)
    return message


def enqueue_now(
    session: Session, *, topic: str, payload: dict[str, Any], now: datetime
) -> None:
    """``enqueue`` for a hot path that needs neither the message nor its id:
    one INSERT at once on the session's connection, so in the caller's
    transaction all the same, without an ORM object to flush."""
    session.connection().execute(_ENQUEUE, _pending(topic, payload, now))


def _pending(topic: str, payload: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "topic": topic,
        "payload": payload,
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "available_at": now,
        "created_at": now,
    }


_ENQUEUE = sa.insert(OutboxMessage.__table__)


def claim(
    session_factory: sessionmaker[Session],
    *,
    worker_id: str,
    limit: int,
    now: datetime,
    lease_seconds: float,
    topics: Collection[str] | None = None,
) -> list[Claim]:
    """Lease up to ``limit`` due messages to ``worker_id`` and commit at once.

    ``topics`` restricts the claim to the topics this worker can handle, so a
    message for a handler another deployment provides waits for that worker.
    """
    with transaction(session_factory) as session:
        query = _due(now, topics).order_by(OutboxMessage.id).limit(limit)
        # On SQLite the transaction began IMMEDIATE, so claims are serialised
        # already; PostgreSQL lets concurrent workers pass each other's rows.
        if is_postgres(session):
            query = query.with_for_update(skip_locked=True)
        messages = session.scalars(query).all()

        expires = now + timedelta(seconds=lease_seconds)
        for message in messages:
            message.lease_owner = worker_id
            message.lease_expires_at = expires
            message.attempts += 1
        claims = [Claim(m.id, m.topic, dict(m.payload), m.attempts) for m in messages]

    if claims:
        log.info(
            "outbox.claimed",
            worker_id=worker_id,
            count=len(claims),
            message_ids=[c.id for c in claims],
        )
    return claims


def _due(now: datetime, topics: Collection[str] | None) -> sa.Select[Any]:
    query = sa.select(OutboxMessage).where(
        OutboxMessage.status == OutboxStatus.PENDING,
        OutboxMessage.available_at <= now,
        sa.or_(
            OutboxMessage.lease_expires_at.is_(None),
            OutboxMessage.lease_expires_at <= now,
        ),
    )
    if topics is not None:
        query = query.where(OutboxMessage.topic.in_(list(topics)))
    return query


# Run once per message delivered: built once, bound per call.
_DELIVERED = (
    sa.update(OutboxMessage.__table__)
    .where(
        OutboxMessage.id == sa.bindparam("message_id"),
        OutboxMessage.status == OutboxStatus.PENDING,
        OutboxMessage.lease_owner == sa.bindparam("worker_id"),
    )
    .values(
        status=OutboxStatus.DELIVERED,
        delivered_at=sa.bindparam("now"),
        lease_owner=None,
        lease_expires_at=None,
    )
)


def mark_delivered(
    session: Session, message_id: int, *, worker_id: str, now: datetime
) -> None:
    """Settle a leased message as delivered (LeaseLost if it is not ours).

    One conditional UPDATE: the row lock it takes makes a concurrent claim
    wait for us and then see the message settled, as a locking read would.
    """
    settled = session.connection().execute(
        _DELIVERED, {"message_id": message_id, "worker_id": worker_id, "now": now}
    )
    if settled.rowcount != 1:
        # Not ours (or gone): say which, with what the row holds now.
        _leased(session, message_id, worker_id)
        raise LeaseLost(
            f"outbox message {message_id} is no longer leased to {worker_id}"
        )


def mark_failed(
    session: Session,
    message_id: int,
    *,
    worker_id: str,
    error: str,
    now: datetime,
    retry: bool,
    settings: Settings,
    retry_after_seconds: float | None = None,
    rng: random.Random | None = None,
) -> OutboxMessage:
    """Schedule another attempt with backoff, or dead-letter the message.

    It goes dead when ``retry`` is false or its attempts are used up.
    """
    message = _leased(session, message_id, worker_id)
    message.last_error = error[:MAX_ERROR_CHARS]
    message.lease_owner = None
    message.lease_expires_at = None

    if not retry or message.attempts >= settings.outbox_max_attempts:
        message.status = OutboxStatus.DEAD
        session.flush()
        log.warning(
            "outbox.dead",
            message_id=message.id,
            topic=message.topic,
            attempts=message.attempts,
            error=message.last_error,
        )
        return message

    delay = backoff_seconds(
        message.attempts,
        base=settings.outbox_backoff_base_seconds,
        cap=settings.outbox_backoff_max_seconds,
        rng=rng,
    )
    if retry_after_seconds is not None:
        delay = max(delay, retry_after_seconds)
    message.available_at = now + timedelta(seconds=delay)
    session.flush()

    log.info(
        "outbox.retry_scheduled",
        message_id=message.id,
        topic=message.topic,
        attempts=message.attempts,
        delay_seconds=round(delay, 3),
        error=message.last_error,
    )
    return message


def backoff_seconds(
    attempts: int, *, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**(attempts - 1))].

    Spreading retries over the whole window keeps workers that failed together
    from hammering a recovering receiver together.
    """
    exponent = min(max(attempts - 1, 0), _MAX_EXPONENT)
    ceiling = min(cap, base * 2.0**exponent)
    return (rng or _jitter).uniform(0.0, ceiling)


def release(session: Session, message_id: int, *, worker_id: str) -> None:
    """Give back a claimed message that was never started (a stopping worker)."""
    message = _leased(session, message_id, worker_id)
    message.lease_owner = None
    message.lease_expires_at = None
    message.attempts = max(message.attempts - 1, 0)
    session.flush()
    log.info("outbox.released", message_id=message.id, worker_id=worker_id)


def _leased(session: Session, message_id: int, worker_id: str) -> OutboxMessage:
    message = _get_for_update(session, message_id)
    if message.status != OutboxStatus.PENDING or message.lease_owner != worker_id:
        log.warning(
            "outbox.lease_lost",
            message_id=message_id,
            worker_id=worker_id,
            status=message.status.value,
            lease_owner=message.lease_owner,
        )
        raise LeaseLost(
            f"outbox message {message_id} is no longer leased to {worker_id}"
        )
    return message


def retry_dead(
    session: Session,
    message_id: int,
    *,
    actor: Actor,
    now: datetime,
    reason: str | None = None,
) -> OutboxMessage:
    """Put a dead message back in the queue with a fresh set of attempts."""
    message = _get_for_update(session, message_id)
    if message.status != OutboxStatus.DEAD:
        raise InvalidState(
            f"only a dead message can be retried; this one is {message.status}"
        )

    changes: dict[str, tuple[object, object]] = {
        "status": (message.status, OutboxStatus.PENDING),
        "attempts": (message.attempts, 0),
    }
    message.status = OutboxStatus.PENDING
    message.attempts = 0
    message.available_at = now
    session.flush()

    _audit(session, message, "outbox.retried", changes, actor, now, reason)
    return message


def cancel(
    session: Session,
    message_id: int,
    *,
    actor: Actor,
    now: datetime,
    reason: str | None = None,
) -> OutboxMessage:
    """Withdraw a pending or dead message so that it is never delivered."""
    message = _get_for_update(session, message_id)
    if message.status not in (OutboxStatus.PENDING, OutboxStatus.DEAD):
        raise InvalidState(f"a {message.status} message cannot be cancelled")
    if message.lease_expires_at is not None and message.lease_expires_at > now:
        # The receiver may be taking it right now; cancelling could not stop that.
        raise InvalidState(
            "the message is being delivered right now; try again when it settles"
        )

    changes: dict[str, tuple[object, object]] = {
        "status": (message.status, OutboxStatus.CANCELLED)
    }
    message.status = OutboxStatus.CANCELLED
    message.lease_owner = None
    message.lease_expires_at = None
    session.flush()

    _audit(session, message, "outbox.cancelled", changes, actor, now, reason)
    return message


def _audit(
    session: Session,
    message: OutboxMessage,
    action: str,
    changes: dict[str, tuple[object, object]],
    actor: Actor,
    now: datetime,
    reason: str | None,
) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        entity_type=ENTITY_TYPE,
        entity_id=str(message.id),
        changes=changes,
        reason=reason,
        now=now,
    )
    log.info(action, message_id=message.id, actor=actor.name)


def _get_for_update(session: Session, message_id: int) -> OutboxMessage:
    # A plain row lock: a concurrent claim of this row waits for us (or we
    # for it) and then sees the settled state, so only one of us wins.
    message = session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.id == message_id).with_for_update()
    ).one_or_none()
    if message is None:
        raise NotFound(f"outbox message {message_id} does not exist")
    return message


def get_message(session: Session, message_id: int) -> OutboxMessage:
    """One message by id, or NotFound."""
    message = session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound(f"outbox message {message_id} does not exist")
    return message


def list_messages(
    session: Session,
    *,
    status: OutboxStatus | None = None,
    topic: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[OutboxMessage]:
    """The newest messages first, optionally only those in one status or of
    one topic, and below ``before_id`` for the next page."""
    query = sa.select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    if topic is not None:
        query = query.where(OutboxMessage.topic == topic)
    if before_id is not None:
        query = query.where(OutboxMessage.id < before_id)
    return list(session.scalars(query))
