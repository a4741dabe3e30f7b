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
from creditdesk.auth.scopes import ADMIN, ALL_SCOPES, APPROVE, READ, WRITE, Principal
from creditdesk.errors import Forbidden, NotAuthenticated
from creditdesk.users.models import Role, User

log = structlog.get_logger(__name__)

__all__ = ["ALL_SCOPES", "Principal"]

TOKEN_PREFIX = "cdt_"  # noqa: S105 - a public marker, not a secret
PREFIX_LENGTH = len(TOKEN_PREFIX) + 6


class Permission(StrEnum):
    CREATE_CREDIT = "credits.create"
    CREATE_CASE = "cases.create"
    MANAGE_ACCOUNTS = "accounts.manage"
    DECIDE_APPROVALS = "approvals.decide"
    VERIFY_AUDIT = "audit.verify"
    ADMINISTER = "admin"
    # Billing operations: list, retry and cancel outbox messages.
    OPERATE_OUTBOX = "outbox.operate"
    # Finance reverses money; administrators administer, they do not void.
    VOID_CREDITS = "credits.void"
    # Compare a billing system's memos with ours, and read what was found.
    RUN_RECONCILIATION = "reconciliation.run"
    READ_RECONCILIATION = "reconciliation.read"


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
    Permission.OPERATE_OUTBOX: frozenset({Role.FINANCE, Role.ADMIN}),
    Permission.VOID_CREDITS: frozenset({Role.FINANCE}),
    Permission.RUN_RECONCILIATION: frozenset({Role.FINANCE, Role.ADMIN}),
    Permission.READ_RECONCILIATION: frozenset({Role.FINANCE, Role.ADMIN, Role.AUDITOR}),
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


def role_scopes(role: Role) -> frozenset[str]:
    """Every scope a user in ``role`` may hold; a web session holds them all."""
    scopes = {READ, WRITE}
    if role in GRANTS[Permission.DECIDE_APPROVALS]:
        scopes.add(APPROVE)
    if role in GRANTS[Permission.ADMINISTER]:
        scopes.add(ADMIN)
    return frozenset(scopes)


def actor_for(user: User, channel: Channel) -> Actor:
    return Actor(user_id=user.id, name=user.username, channel=channel, role=user.role)


def digest(raw: str) -> str:
    """The SHA-256 hex digest stored in place of a high-entropy secret."""
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_token(
    session: Session,
    *,
    user: User,
    actor: Actor,
    now: datetime,
    ttl: timedelta | None,
    name: str = "cli",
    scopes: tuple[str, ...] | list[str] | None = None,
) -> str:
    """Create a token for ``user`` and return the secret (shown only once).

    Without ``scopes`` the token gets every scope the user's role allows.
    """
    return create_token(
        session, user=user, actor=actor, now=now, ttl=ttl, name=name, scopes=scopes
    )[1]


def create_token(
    session: Session,
    *,
    user: User,
    actor: Actor,
    now: datetime,
    ttl: timedelta | None,
    name: str = "cli",
    scopes: tuple[str, ...] | list[str] | None = None,
) -> tuple[ApiToken, str]:
    """Like :func:`issue_token`, also returning the stored row."""
    if scopes is None:
        scopes = [s for s in ALL_SCOPES if s in role_scopes(user.role)]
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        token_hash=digest(raw),
        prefix=raw[:PREFIX_LENGTH],
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
    log.info("token.issued", user_id=user.id, token_id=token.id, scopes=scopes)
    return token, raw


class TokenCache:
    """Recently authenticated tokens, so a busy client is not looked up on
    every request. An entry lives ``ttl_seconds`` at most and never past the
    token's own expiry. A revocation through this process evicts the token at
    once; other processes notice within ``ttl_seconds``. A TTL of zero turns
    the cache off.
    """

    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self._ttl = timedelta(seconds=ttl_seconds)
        self._max = max_entries
        self._entries: dict[str, tuple[Principal, datetime]] = {}
        self._lock = threading.Lock()

    def get(self, raw: str, *, now: datetime) -> Principal | None:
        if not self._ttl:
            return None
        with self._lock:
            entry = self._entries.get(digest(raw))
        if entry is None or entry[1] <= now:
            return None
        return entry[0]

    def clear(self) -> None:
        """Forget every entry, e.g. after a user's role or status changed."""
        with self._lock:
            self._entries.clear()

    def put(
        self,
        raw: str,
        principal: Principal,
        *,
        now: datetime,
        expires: datetime | None,
    ) -> None:
        if not self._ttl:
            return
        until = min(now + self._ttl, expires) if expires else now + self._ttl
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[digest(raw)] = (principal, until)

    def evict(self, token_hash: str) -> None:
        """Forget the token whose stored digest is ``token_hash``."""
        with self._lock:
            self._entries.pop(token_hash, None)

    def evict_user(self, user_id: int) -> None:
        """Forget every token of ``user_id`` (deactivation, role change)."""
        with self._lock:
            stale = [k for k, (p, _) in self._entries.items() if p.user.id == user_id]
            for key in stale:
                del self._entries[key]


def authenticate(
    session: Session, raw: str, *, now: datetime, cache: TokenCache | None = None
) -> User:
    """The active user behind a bearer token, or NotAuthenticated.

    With a cache, the user is detached from ``session`` so it can be shared
    between requests; read its columns, and load related rows through a session.
    """
    return authenticate_token(session, raw, now=now, cache=cache).user


def authenticate_token(
    session: Session, raw: str, *, now: datetime, cache: TokenCache | None = None
) -> Principal:
    """The user behind a bearer token with the scopes it grants now."""
    if cache is not None:
        cached = cache.get(raw, now=now)
        if cached is not None:
            return cached
    row = session.execute(
        sa.select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == digest(raw))
    ).first()
    if row is None:
        raise _rejected("the bearer token is not valid", "unknown", raw)

    token, user = row
    if token.revoked_at is not None or (token.expires_at and token.expires_at <= now):
        raise _rejected(
            "the bearer token has expired or been revoked", "expired", raw, user.id
        )
    if not user.is_active:
        raise _rejected(
            "the user behind this token is deactivated", "deactivated", raw, user.id
        )
    principal = Principal(
        user=user,
        scopes=frozenset(token.scopes) & role_scopes(user.role),
        token_id=token.id,
    )
    if cache is not None:
        session.expunge(user)
        cache.put(raw, principal, now=now, expires=token.expires_at)
    return principal


def _rejected(
    detail: str, reason: str, raw: str, user_id: int | None = None
) -> NotAuthenticated:
    # The stored prefix is public; logging more of the secret is not.
    prefix = raw[:PREFIX_LENGTH] if raw.startswith(TOKEN_PREFIX) else None
    log.warning("auth.token_rejected", reason=reason, prefix=prefix, user_id=user_id)
    return NotAuthenticated(detail)
