"""Idempotency keys for unsafe requests.

The key is claimed in a short transaction of its own before the work starts,
so a concurrent request with the same key sees it and gets 409 instead of
doing the work twice. The response is stored in the work's own transaction,
so a replay exists exactly when the work was committed. If the work fails the
claim is released, so bad input leaves no record behind.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.config import Settings
from creditdesk.db import is_postgres, transaction
from creditdesk.errors import (
    IdempotencyConflict,
    IdempotencyMismatch,
    ValidationFailed,
)
from creditdesk.idempotency.models import IdempotencyRecord

log = structlog.get_logger(__name__)

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: dict[str, Any]
    replayed: bool


def fingerprint(payload: Any) -> str:
    """SHA-256 of the request's canonical JSON, so formatting does not matter."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed.on(
            HEADER, f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable characters"
        )
    return key


@dataclass(frozen=True, slots=True)
class Claim:
    user_id: int
    key: str
    scope: str
    request_hash: str


def run(
    factory: sessionmaker[Session],
    *,
    claim: Claim | None,
    work: Callable[[Session], tuple[int, dict[str, Any]]],
    now: datetime,
    settings: Settings,
) -> StoredResponse:
    """Run ``work`` in its own transaction, at most once per idempotency key."""
    if claim is None:
        with transaction(factory) as session:
            status, body = work(session)
        return StoredResponse(status, body, replayed=False)

    stored = _begin(factory, claim, now=now, settings=settings)
    if stored is not None:
        return stored

    try:
        with transaction(factory) as session:
            status, body = work(session)
            _complete(session, claim, status=status, body=body)
    except BaseException:
        _release(factory, claim)
        raise
    return StoredResponse(status, body, replayed=False)


def _find(session: Session, claim: Claim) -> IdempotencyRecord | None:
    query = sa.select(IdempotencyRecord).where(
        IdempotencyRecord.user_id == claim.user_id,
        IdempotencyRecord.key == claim.key,
    )
    if is_postgres(session):
        query = query.with_for_update()
    return session.scalars(query).first()


def _begin(
    factory: sessionmaker[Session], claim: Claim, *, now: datetime, settings: Settings
) -> StoredResponse | None:
    lock_until = now + timedelta(seconds=settings.idempotency_lock_seconds)
    try:
        with transaction(factory) as session:
            record = _find(session, claim)
            if record is not None and record.expires_at <= now:
                session.delete(record)
                session.flush()
                record = None
            if record is None:
                session.add(
                    IdempotencyRecord(
                        user_id=claim.user_id,
                        key=claim.key,
                        scope=claim.scope,
                        request_hash=claim.request_hash,
                        created_at=now,
                        locked_until=lock_until,
                        expires_at=now
                        + timedelta(hours=settings.idempotency_ttl_hours),
                    )
                )
                return None
            return _replay_or_refuse(record, claim, now=now, lock_until=lock_until)
    except IntegrityError:
        # Another request inserted the same key between our read and insert.
        raise IdempotencyConflict(
            "a request with this Idempotency-Key is in progress; retry later"
        ) from None


def _replay_or_refuse(
    record: IdempotencyRecord, claim: Claim, *, now: datetime, lock_until: datetime
) -> StoredResponse | None:
    if record.scope != claim.scope or record.request_hash != claim.request_hash:
        raise IdempotencyMismatch(
            "this Idempotency-Key was used with a different request",
            extra={"field": HEADER},
        )
    if record.response_status is not None and record.response_body is not None:
        log.info("idempotency.replayed", key=claim.key, user_id=claim.user_id)
        return StoredResponse(record.response_status, record.response_body, True)
    if record.locked_until is not None and record.locked_until > now:
        raise IdempotencyConflict(
            "a request with this Idempotency-Key is in progress; retry later"
        )
    # The first attempt died without finishing or releasing: take it over.
    record.locked_until = lock_until
    return None


def _complete(
    session: Session, claim: Claim, *, status: int, body: dict[str, Any]
) -> None:
    session.execute(
        sa.update(IdempotencyRecord)
        .where(
            IdempotencyRecord.user_id == claim.user_id,
            IdempotencyRecord.key == claim.key,
        )
        .values(response_status=status, response_body=body, locked_until=None)
    )


def _release(factory: sessionmaker[Session], claim: Claim) -> None:
    with transaction(factory) as session:
        session.execute(
            sa.delete(IdempotencyRecord).where(
                IdempotencyRecord.user_id == claim.user_id,
                IdempotencyRecord.key == claim.key,
                IdempotencyRecord.response_status.is_(None),
            )
        )


def purge_expired(session: Session, *, now: datetime) -> int:
    """Delete records past their retention; returns how many went."""
    result = session.execute(
        sa.delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= now)
    )
    return result.rowcount or 0
