"""Passwords: argon2id hashes, the length rule and changing a password.

A hash records the argon2 parameters it was made with; when they differ from
:data:`HASHER`'s, the next successful sign-in stores a fresh hash, so raising
the cost reaches every active user without a migration.
"""

import functools
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from creditdesk.access.models import WebSession
from creditdesk.actors import Actor
from creditdesk.audit import service as audit
from creditdesk.errors import ValidationFailed
from creditdesk.users.models import User

log = structlog.get_logger(__name__)

PASSWORD_MIN = 12
# Long enough for any passphrase, short enough that hashing stays cheap.
PASSWORD_MAX = 1024

# argon2id with the library's RFC 9106 "low memory" profile.
HASHER = PasswordHasher()


@dataclass(frozen=True, slots=True)
class Checked:
    """The outcome of a password check; ``new_hash`` is set when it should be
    stored because the stored one used other parameters."""

    ok: bool
    new_hash: str | None = None


def check_rules(password: str, field: str = "password") -> None:
    """Refuse a password that is too short or too long (422 naming ``field``)."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise ValidationFailed.on(
            field,
            f"a password is {PASSWORD_MIN} to {PASSWORD_MAX} characters",
        )


def hash_password(password: str, *, hasher: PasswordHasher = HASHER) -> str:
    """An argon2id hash of ``password`` (after checking the length rule)."""
    check_rules(password)
    return hasher.hash(password)


def verify(stored: str | None, password: str) -> Checked:
    """Check ``password`` against ``stored``; with no stored hash, a dummy is
    checked instead so the time taken does not tell whether one exists."""
    if len(password) > PASSWORD_MAX:
        # Refused before hashing: a megabyte "password" must not cost the
        # server a megabyte of argon2 input per attempt.
        return Checked(ok=False)
    try:
        HASHER.verify(stored or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return Checked(ok=False)
    if stored is None:
        return Checked(ok=False)
    if HASHER.check_needs_rehash(stored):
        return Checked(ok=True, new_hash=HASHER.hash(password))
    return Checked(ok=True)


def set_password(
    session: Session, *, user: User, password: str, actor: Actor, now: datetime
) -> None:
    """Give ``user`` a new password, clear any lockout and end their web
    sessions. The audit entry records that it changed, never the hash."""
    check_rules(password)
    old_changed_at, old_locked_until = user.password_changed_at, user.locked_until

    user.password_hash = hash_password(password)
    user.password_changed_at = now
    user.failed_sign_ins = 0
    user.locked_until = None
    user.updated_at = now
    ended = _end_web_sessions(session, user_id=user.id, now=now)
    session.flush()

    changes: dict[str, tuple[object, object]] = {
        "password_changed_at": (old_changed_at, now),
    }
    if old_locked_until is not None:
        changes["locked_until"] = (old_locked_until, None)
    if ended:
        changes["web_sessions_ended"] = (None, ended)
    audit.record(
        session,
        actor=actor,
        action="user.password_changed",
        entity_type="user",
        entity_id=user.id,
        changes=changes,
        now=now,
    )
    log.info("user.password_changed", user_id=user.id, web_sessions_ended=ended)


def _end_web_sessions(session: Session, *, user_id: int, now: datetime) -> int:
    # Whoever knew the old password may hold a session; a new password
    # should shut them out too.
    result = session.execute(
        sa.update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


@functools.cache
def _dummy_hash() -> str:
    return HASHER.hash(secrets.token_urlsafe(16))
