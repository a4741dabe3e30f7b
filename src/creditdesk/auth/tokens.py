"""Managing API tokens: issuing your own, listing them and revoking them.

Secrets are created in :mod:`creditdesk.access.service`; this module holds
the rules about who may hold, see and revoke which token.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy import event
from sqlalchemy.orm import Session

from creditdesk.access import service as access
from creditdesk.access.models import ApiToken
from creditdesk.actors import Actor
from creditdesk.audit import service as audit
from creditdesk.auth.scopes import ADMIN, Principal, check_requested
from creditdesk.errors import NotFound, ValidationFailed
from creditdesk.users.models import User

log = structlog.get_logger(__name__)

NAME_MAX = 100


def issue_own_token(
    session: Session,
    *,
    caller: Principal,
    name: str,
    scopes: Sequence[str] | None,
    expires_in_days: int | None,
    max_days: int,
    actor: Actor,
    now: datetime,
) -> tuple[ApiToken, str]:
    """A new token for the caller, never stronger than the credential used
    to ask for it; returns the row and the secret (shown only once)."""
    name = _name(name)
    wanted = check_requested(
        caller.scopes if scopes is None else scopes, allowed=caller.scopes
    )
    days = max_days if expires_in_days is None else expires_in_days
    if not 1 <= days <= max_days:
        raise ValidationFailed.on(
            "expires_in_days", f"a token lasts 1 to {max_days} days"
        )

    user = session.get_one(User, caller.user.id)
    return access.create_token(
        session,
        user=user,
        actor=actor,
        now=now,
        ttl=timedelta(days=days),
        name=name,
        scopes=wanted,
    )


def tokens_of(session: Session, *, user_id: int) -> list[ApiToken]:
    """A user's tokens, newest first, revoked and expired ones included."""
    return list(
        session.scalars(
            sa.select(ApiToken)
            .where(ApiToken.user_id == user_id)
            .order_by(ApiToken.id.desc())
        )
    )


def revoke_for_caller(
    session: Session,
    *,
    caller: Principal,
    token_id: int,
    actor: Actor,
    now: datetime,
    cache: access.TokenCache | None,
) -> ApiToken:
    """Revoke one of the caller's tokens, or anyone's for an administrator
    using a credential with the admin scope. Others' tokens are a 404."""
    token = session.get(ApiToken, token_id, with_for_update=True)
    may_revoke_any = (
        access.can(caller.user, access.Permission.ADMINISTER) and ADMIN in caller.scopes
    )
    if token is None or (token.user_id != caller.user.id and not may_revoke_any):
        raise NotFound(f"you have no token {token_id}")
    revoke_tokens(session, tokens=[token], actor=actor, now=now, cache=cache)
    return token


def find_tokens(
    session: Session,
    *,
    token_id: int | None = None,
    prefix: str | None = None,
    username: str | None = None,
) -> list[ApiToken]:
    """Live tokens chosen by exactly one of id, prefix or owner (for the CLI)."""
    chosen = [v for v in (token_id, prefix, username) if v is not None]
    if len(chosen) != 1:
        raise ValidationFailed.on("token", "choose by exactly one of id, prefix, user")

    query = sa.select(ApiToken).where(ApiToken.revoked_at.is_(None))
    if token_id is not None:
        query = query.where(ApiToken.id == token_id)
    elif prefix is not None:
        query = query.where(ApiToken.prefix == prefix)
    else:
        query = query.join(User, User.id == ApiToken.user_id).where(
            User.username == username
        )
    tokens = list(session.scalars(query.order_by(ApiToken.id).with_for_update()))
    if prefix is not None and len(tokens) > 1:
        raise ValidationFailed.on(
            "prefix", f"{len(tokens)} tokens start with {prefix!r}: revoke by id"
        )
    return tokens


def revoke_tokens(
    session: Session,
    *,
    tokens: Sequence[ApiToken],
    actor: Actor,
    now: datetime,
    cache: access.TokenCache | None,
) -> int:
    """Revoke each live token (audited) and evict it from ``cache``; returns
    how many were live. Already revoked tokens are left as they were."""
    live = [token for token in tokens if token.revoked_at is None]
    for token in live:
        token.revoked_at = now
        audit.record(
            session,
            actor=actor,
            action="token.revoked",
            entity_type="user",
            entity_id=token.user_id,
            changes={
                # Like token.issued: which token, named by id and prefix.
                "token_id": (None, token.id),
                "token_prefix": (None, token.prefix),
                "revoked_at": (None, now),
            },
            now=now,
        )
        log.info("token.revoked", token_id=token.id, user_id=token.user_id)
    session.flush()

    if cache is not None and live:
        _evict(session, cache, [token.token_hash for token in live])
    return len(live)


def _evict(session: Session, cache: access.TokenCache, hashes: list[str]) -> None:
    # Evict now, and again after the commit: a request in between may have
    # read the still-committed live row and cached it anew.
    for token_hash in hashes:
        cache.evict(token_hash)

    def after_commit(_session: Session) -> None:
        for token_hash in hashes:
            cache.evict(token_hash)

    event.listen(session, "after_commit", after_commit, once=True)


def _name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise ValidationFailed.on("name", f"a token name is 1 to {NAME_MAX} characters")
    return name
