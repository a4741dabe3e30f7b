"""Dependencies for endpoints: the request's session, clock and current user.

The session dependency owns the transaction: it commits when the endpoint
returns and before the response is sent, and rolls back on any error.
"""

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated
from urllib.parse import parse_qs

import structlog
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from creditdesk.access import service as access
from creditdesk.actors import Actor, Channel
from creditdesk.auth import scopes, sessions
from creditdesk.auth.scopes import SAFE_METHODS, Principal
from creditdesk.clock import Clock
from creditdesk.config import Settings
from creditdesk.db import read_only, transaction
from creditdesk.errors import NotAuthenticated
from creditdesk.users.models import User

log = structlog.get_logger(__name__)

_FORM_TYPE = "application/x-www-form-urlencoded"


def get_session(request: Request) -> Iterator[Session]:
    yield from _unit_of_work(request.app.state.session_factory())


def get_read_session(request: Request) -> Iterator[Session]:
    yield from _unit_of_work(read_only(request.app.state.session_factory()))


def _unit_of_work(session: Session) -> Iterator[Session]:
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# The dependencies below only read memory. Declared ``async`` they run on the
# event loop: a plain ``def`` would cost each request a hop to the thread
# pool and back, which is more work than the dependency itself.


async def get_clock(request: Request) -> Clock:
    return request.app.state.clock


async def get_now(request: Request) -> datetime:
    return request.app.state.clock()


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


DbSession = Annotated[Session, Depends(get_session, scope="function")]
ReadSession = Annotated[Session, Depends(get_read_session, scope="function")]
Now = Annotated[datetime, Depends(get_now)]
AppSettings = Annotated[Settings, Depends(get_settings)]


async def presented_csrf(request: Request) -> str | None:
    """The CSRF token a cookie-authenticated change carries: the header, else
    the ``csrf_token`` field of a urlencoded form. Async, since reading the
    body is."""
    if request.method in SAFE_METHODS or "authorization" in request.headers:
        return None
    header = request.headers.get(sessions.CSRF_HEADER)
    if header or sessions.COOKIE_NAME not in request.cookies:
        return header
    if request.headers.get("content-type", "").startswith(_FORM_TYPE):
        # The standard library suffices for a urlencoded form; multipart
        # forms (file uploads) send the header instead.
        fields = parse_qs((await request.body()).decode("latin-1"))
        values = fields.get(sessions.CSRF_FIELD)
        return values[0] if values else None
    return None


PresentedCsrf = Annotated[str | None, Depends(presented_csrf)]


def get_current_user(request: Request, now: datetime, csrf: str | None) -> User:
    """The user behind the bearer token or, without one, the session cookie.

    Also enforces the credential's scope for this route (see auth.scopes)
    and, for a cookie, the CSRF token on state-changing methods. Looked up in
    short sessions of its own, so the request's unit of work starts only when
    the endpoint needs it. The returned user is detached: read its columns,
    load related rows through a session.
    """
    header = request.headers.get("authorization")
    if header is None and sessions.COOKIE_NAME in request.cookies:
        principal = _from_cookie(request, now, csrf)
    else:
        principal = _from_bearer(request, header or "", now)
    return _admit(request, principal)


async def current_user(request: Request, now: Now, csrf: PresentedCsrf) -> User:
    """``get_current_user`` as a dependency. A bearer token the token cache
    knows is answered on the event loop; anything that needs the database
    goes to the thread pool, as a plain ``def`` dependency would."""
    principal = _cached_bearer(request, now)
    if principal is None:
        return await run_in_threadpool(get_current_user, request, now, csrf)
    return _admit(request, principal)


def _admit(request: Request, principal: Principal) -> User:
    path = request.scope["path"]
    needed = scopes.required_scope(request.method, path, request.scope.get("route"))
    scopes.check_scope(principal, needed, method=request.method, path=path)

    user = principal.user
    request.state.principal = principal
    request.state.user_id = user.id
    structlog.contextvars.bind_contextvars(user_id=user.id)
    return user


def _bearer_token(header: str) -> str | None:
    """The token of a well-formed ``Bearer <token>`` header, else None."""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _cached_bearer(request: Request, now: datetime) -> Principal | None:
    """The principal of a well-formed bearer token in the cache, else None."""
    token = _bearer_token(request.headers.get("authorization", ""))
    if token is None:
        return None
    return request.app.state.token_cache.get(token, now=now)


def _from_bearer(request: Request, header: str, now: datetime) -> Principal:
    token = _bearer_token(header)
    if token is None:
        log.warning("auth.rejected", reason="no_credentials", path=request.url.path)
        raise NotAuthenticated(
            "send an Authorization: Bearer <token> header or sign in"
        )
    cache = request.app.state.token_cache
    principal = cache.get(token, now=now)
    if principal is None:
        with read_only(request.app.state.session_factory()) as session:
            principal = access.authenticate_token(session, token, now=now, cache=cache)
    return principal


def _from_cookie(request: Request, now: datetime, csrf: str | None) -> Principal:
    factory = request.app.state.session_factory
    lifetimes = sessions.Lifetimes.of(request.app.state.settings)
    with read_only(factory()) as session:
        web, user = sessions.session_user(
            session,
            request.cookies[sessions.COOKIE_NAME],
            now=now,
            lifetimes=lifetimes,
        )
        if request.method not in SAFE_METHODS:
            sessions.check_csrf(web, csrf, path=request.url.path)

    if sessions.needs_touch(web, now):
        with transaction(factory) as session:
            sessions.touch(session, web_session_id=web.id, now=now)
    return Principal(
        user=user,
        scopes=access.role_scopes(user.role),
        web_session_id=web.id,
        csrf_token=web.csrf_secret,
    )


CurrentUser = Annotated[User, Depends(current_user)]


async def get_principal(request: Request, _user: CurrentUser) -> Principal:
    """The caller with the credential they used (token or web session)."""
    return request.state.principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


async def get_actor(principal: CurrentPrincipal) -> Actor:
    channel = Channel.WEB if principal.via_session else Channel.API
    return access.actor_for(principal.user, channel)


CurrentActor = Annotated[Actor, Depends(get_actor)]
