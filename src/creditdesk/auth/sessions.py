"""Web sessions: signing in with a password, staying signed in, signing out.

The browser holds a random secret in a cookie; the database keeps only its
SHA-256 digest. A session ends on sign-out, after ``idle`` without a request,
or ``absolute`` after sign-in, whichever comes first. Each session has a CSRF
token that every state-changing request made with the cookie must echo.
"""

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from creditdesk.access.models import WebSession
from creditdesk.access.service import actor_for, digest
from creditdesk.actors import Actor, Channel
from creditdesk.audit import service as audit
from creditdesk.auth import lockout, passwords
from creditdesk.config import Settings
from creditdesk.errors import Forbidden, NotAuthenticated
from creditdesk.users.models import User

log = structlog.get_logger(__name__)

COOKIE_NAME = "creditdesk_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
USER_AGENT_MAX = 300
CLIENT_IP_MAX = 64

# last_seen_at is written at most this often, so reads do not write on every
# request; idle expiry is therefore accurate to about this much.
TOUCH_INTERVAL = timedelta(minutes=1)

# Who the audit trail names for an attempt nobody has proven yet.
_STRANGER = Actor.system(Channel.WEB, name="unauthenticated")


@dataclass(frozen=True, slots=True)
class Lifetimes:
    idle: timedelta
    absolute: timedelta

    @classmethod
    def of(cls, settings: Settings) -> "Lifetimes":
        return cls(
            idle=timedelta(minutes=settings.session_idle_minutes),
            absolute=timedelta(hours=settings.session_absolute_hours),
        )


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A new session: ``secret`` goes in the cookie, shown only this once."""

    user: User
    web_session: WebSession
    secret: str
    csrf_token: str


def sign_in(
    session: Session,
    *,
    username: str,
    password: str,
    now: datetime,
    client_ip: str | None,
    user_agent: str | None,
    settings: Settings,
) -> SignedIn:
    """Check the password and open a session, or raise.

    A failure is recorded (flushed) before the error is raised, and the caller
    must commit it anyway, or the throttle and lockout never engage. An
    unknown user and a wrong password get the same 401 and take the same time.
    """
    limits = lockout.Limits.of(settings)
    user = _user_for_update(session, username.strip().lower())
    if user is None:
        passwords.verify(None, password)
        log.warning("auth.sign_in_failed", reason="unknown_user", client_ip=client_ip)
        raise _wrong_credentials()

    refused = lockout.refusal(user, now=now, limits=limits)
    if refused is not None:
        raise refused

    checked = passwords.verify(user.password_hash, password)
    if not checked.ok or not user.is_active:
        reason = "deactivated" if checked.ok else "wrong_password"
        _record_failure(
            session, user=user, reason=reason, now=now, ip=client_ip, limits=limits
        )
        raise _wrong_credentials()

    return _open(
        session,
        user=user,
        new_hash=checked.new_hash,
        now=now,
        lifetimes=Lifetimes.of(settings),
        client_ip=client_ip,
        user_agent=user_agent,
    )


def session_user(
    session: Session, secret: str, *, now: datetime, lifetimes: Lifetimes
) -> tuple[WebSession, User]:
    """The live session behind a cookie secret and its active user, or 401."""
    row = session.execute(
        sa.select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.token_hash == digest(secret))
    ).first()
    if row is None:
        raise _rejected("unknown", "the session is not valid; sign in again")

    web, user = row
    if web.ended_at is not None:
        raise _rejected("ended", "the session has ended; sign in again", web)
    if web.expires_at <= now:
        raise _rejected("expired", "the session has expired; sign in again", web)
    if web.last_seen_at + lifetimes.idle <= now:
        raise _rejected("idle", "the session timed out; sign in again", web)
    if not user.is_active:
        raise _rejected("deactivated", "the user is deactivated", web)
    return web, user


def needs_touch(web: WebSession, now: datetime) -> bool:
    """Whether last_seen_at is stale enough to be worth a write."""
    return now - web.last_seen_at >= TOUCH_INTERVAL


def touch(session: Session, *, web_session_id: int, now: datetime) -> None:
    """Record activity on a session (keeps it from idling out)."""
    session.execute(
        sa.update(WebSession)
        .where(WebSession.id == web_session_id, WebSession.last_seen_at < now)
        .values(last_seen_at=now)
        .execution_options(synchronize_session=False)
    )


def check_csrf(web: WebSession, presented: str | None, *, path: str) -> None:
    """Refuse (403) a state-changing request that does not echo the token."""
    expected = web.csrf_secret.encode()
    if presented and hmac.compare_digest(presented.encode(), expected):
        return
    log.warning(
        "auth.csrf_rejected",
        user_id=web.user_id,
        web_session_id=web.id,
        reason="missing" if not presented else "wrong",
        path=path,
    )
    raise Forbidden(
        f"send the session's CSRF token in the {CSRF_HEADER} header "
        f"or the {CSRF_FIELD} form field"
    )


def sign_out(session: Session, *, web: WebSession, user: User, now: datetime) -> None:
    """End ``web`` (audited); a session that already ended is left alone."""
    if web.ended_at is not None:
        return
    web.ended_at = now
    session.flush()
    audit.record(
        session,
        actor=actor_for(user, Channel.WEB),
        action="user.signed_out",
        entity_type="user",
        entity_id=user.id,
        changes={"web_session_id": (None, web.id), "ended_at": (None, now)},
        now=now,
    )
    log.info("auth.signed_out", user_id=user.id, web_session_id=web.id)


def _open(
    session: Session,
    *,
    user: User,
    new_hash: str | None,
    now: datetime,
    lifetimes: Lifetimes,
    client_ip: str | None,
    user_agent: str | None,
) -> SignedIn:
    before = {
        "failed_sign_ins": user.failed_sign_ins,
        "locked_until": user.locked_until,
    }
    user.failed_sign_ins = 0
    user.locked_until = None
    if new_hash is not None:
        user.password_hash = new_hash

    secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    web = WebSession(
        user_id=user.id,
        token_hash=digest(secret),
        csrf_secret=csrf,
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetimes.absolute,
        client_ip=(client_ip or "")[:CLIENT_IP_MAX] or None,
        user_agent=(user_agent or "")[:USER_AGENT_MAX] or None,
    )
    session.add(web)
    session.flush()

    changes = audit.diff(before, {"failed_sign_ins": 0, "locked_until": None})
    changes["web_session_id"] = (None, web.id)
    changes["client_ip"] = (None, web.client_ip)
    if new_hash is not None:
        changes["password_rehashed"] = (None, True)
    audit.record(
        session,
        actor=actor_for(user, Channel.WEB),
        action="user.signed_in",
        entity_type="user",
        entity_id=user.id,
        changes=changes,
        now=now,
    )
    log.info("auth.signed_in", user_id=user.id, web_session_id=web.id)
    return SignedIn(user=user, web_session=web, secret=secret, csrf_token=csrf)


def _record_failure(
    session: Session,
    *,
    user: User,
    reason: str,
    now: datetime,
    ip: str | None,
    limits: lockout.Limits,
) -> None:
    failures = user.failed_sign_ins + 1
    old_until = user.locked_until
    user.failed_sign_ins = failures
    user.locked_until = lockout.refused_until(failures, now=now, limits=limits)
    session.flush()

    changes = audit.diff(
        {"failed_sign_ins": failures - 1, "locked_until": old_until},
        {"failed_sign_ins": failures, "locked_until": user.locked_until},
    )
    changes["client_ip"] = (None, ip)
    audit.record(
        session,
        actor=_STRANGER,
        action="user.sign_in_failed",
        entity_type="user",
        entity_id=user.id,
        changes=changes,
        reason=reason.replace("_", " "),
        now=now,
    )
    log.warning(
        "auth.sign_in_failed",
        reason=reason,
        user_id=user.id,
        failures=failures,
        client_ip=ip,
    )
    if lockout.is_locked_out(failures, limits):
        _record_lockout(session, user=user, now=now)


def _record_lockout(session: Session, *, user: User, now: datetime) -> None:
    audit.record(
        session,
        actor=_STRANGER,
        action="user.locked",
        entity_type="user",
        entity_id=user.id,
        changes={"locked_until": (None, user.locked_until)},
        reason="too many failed sign-ins",
        now=now,
    )
    log.warning("auth.locked", user_id=user.id, locked_until=user.locked_until)


def _user_for_update(session: Session, username: str) -> User | None:
    # The row lock makes concurrent failures count one after another; OF
    # keeps PostgreSQL from trying to lock the outer-joined team as well.
    return session.scalars(
        sa.select(User).where(User.username == username).with_for_update(of=User)
    ).one_or_none()


def _wrong_credentials() -> NotAuthenticated:
    return NotAuthenticated("the username or password is not correct")


def _rejected(
    reason: str, detail: str, web: WebSession | None = None
) -> NotAuthenticated:
    log.warning(
        "auth.session_rejected",
        reason=reason,
        web_session_id=web.id if web else None,
        user_id=web.user_id if web else None,
    )
    return NotAuthenticated(detail)
