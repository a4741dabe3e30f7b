"""API tokens and role permissions.

Tokens are random 256-bit secrets; only their SHA-256 digest is stored, which
is sound for high-entropy secrets (passwords, by contrast, get argon2id).
"""

import hashlib
import secrets
import threading
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from creditdesk.access.models import ApiToken
from creditdesk.actors import Actor, Channel
from creditdesk.audit import service as audit
from creditdesk.errors import Forbidden, NotAuthenticated
from creditdesk.users.models import Role, User

log = structlog.get_logger(__name__)

TOKEN_PREFIX = "cdt_"  # noqa: S105 - a public marker, not a secret
ALL_SCOPES = ("read", "write", "approve", "admin")


class Permission(StrEnum):
    CREATE_CREDIT = "credits.create"
    CREATE_CASE = "cases.create"
    MANAGE_ACCOUNTS = "accounts.manage"
    DECIDE_APPROVALS = "approvals.decide"
    VERIFY_AUDIT = "audit.verify"
    ADMINISTER = "admin"


_AGENTS = {Role.AGENT, Role.TEAM_LEAD, Role.MANAGER}
GRANTS: dict[Permission, frozenset[Role]] = {
    Permission.CREATE_CREDIT: frozenset(_AGENTS),
    Permission.CREATE_CASE: frozenset(_AGENTS | {Role.JUNIOR_AGENT}),
    Permission.MANAGE_ACCOUNTS: frozenset({Role.FINANCE, Role.ADMIN}),
    Permission.DECIDE_APPROVALS: frozenset(
        {Role.TEAM_LEAD, Role.MANAGER, Role.FINANCE}
    ),
    Permission.VERIFY_AUDIT: frozenset({Role.AUDITOR, Role.ADMIN}),
    Permission.ADMINISTER: frozenset({Role.ADMIN}),
}


def can(user: User, permission: Permission) -> bool:
    return user.role in GRANTS[permission]


def require(user: User, permission: Permission) -> None:
    if not can(user, permission):
        log.warning(
            "access.denied",
            user_id=user.id,
            role=user.role.value,
            permission=permission.value,
        )
        raise Forbidden(f"the {user.role.value} role may not do {permission.value}")


def actor_for(user: User, channel: Channel) -> Actor:
    return Actor(user_id=user.id, name=user.username, channel=channel, role=user.role)


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_token(
    session: Session,
    *,
    user: User,
    actor: Actor,
    now: datetime,
    ttl: timedelta | None,
    name: str = "cli",
    scopes: tuple[str, ...] = ALL_SCOPES,
) -> str:
    """Create a token for ``user`` and return the secret (shown only once)."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        token_hash=_digest(raw),
        prefix=raw[: len(TOKEN_PREFIX) + 6],
        name=name,
        scopes=list(scopes),
        created_at=now,
        expires_at=now + ttl if ttl else None,
    )
    session.add(token)
    session.flush()

    # The audit trail names the token by id and prefix; the secret never
    # leaves this function except to the caller.
    audit.record(
        session,
        actor=actor,
        action="token.issued",
        entity_type="user",
        entity_id=user.id,
        changes={
            "token_id": (None, token.id),
            "token_prefix": (None, token.prefix),
            "name": (None, name),
            "scopes": (None, list(scopes)),
            "expires_at": (None, token.expires_at),
        },
        now=now,
    )
    return raw


class TokenCache:
    """Recently authenticated tokens, so a busy client is not looked up on
    every request. An entry lives ``ttl_seconds`` at most and never past the
    token's own expiry, so a revocation or deactivation takes effect within
    that many seconds. A TTL of zero turns the cache off.
    """

    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self._ttl = timedelta(seconds=ttl_seconds)
        self._max = max_entries
        self._entries: dict[str, tuple[User, datetime]] = {}
        self._lock = threading.Lock()

    def get(self, raw: str, *, now: datetime) -> User | None:
        if not self._ttl:
            return None
        with self._lock:
            entry = self._entries.get(_digest(raw))
        if entry is None or entry[1] <= now:
            return None
        return entry[0]

    def clear(self) -> None:
        """Forget every entry, e.g. after a user's role or status changed."""
        with self._lock:
            self._entries.clear()

    def put(
        self, raw: str, user: User, *, now: datetime, expires: datetime | None
    ) -> None:
        if not self._ttl:
            return
        until = min(now + self._ttl, expires) if expires else now + self._ttl
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[_digest(raw)] = (user, until)


def authenticate(
    session: Session, raw: str, *, now: datetime, cache: TokenCache | None = None
) -> User:
    """The active user behind a bearer token, or NotAuthenticated.

    With a cache, the user is detached from ``session`` so it can be shared
    between requests; read its columns, and load related rows through a session.
    """
    if cache is not None:
        cached = cache.get(raw, now=now)
        if cached is not None:
            return cached
    row = session.execute(
        sa.select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == _digest(raw))
    ).first()
    if row is None:
        raise NotAuthenticated("the bearer token is not valid")

    token, user = row
    if token.revoked_at is not None or (token.expires_at and token.expires_at <= now):
        raise NotAuthenticated("the bearer token has expired or been revoked")
    if not user.is_active:
        raise NotAuthenticated("the user behind this token is deactivated")
    if cache is not None:
        session.expunge(user)
        cache.put(raw, user, now=now, expires=token.expires_at)
    return user
