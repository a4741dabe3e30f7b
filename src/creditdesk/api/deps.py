"""Dependencies for endpoints: the request's session, clock and current user.

The session dependency owns the transaction: it commits when the endpoint
returns and before the response is sent, and rolls back on any error.
"""

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

import structlog
from fastapi import Depends, Request
from sqlalchemy.orm import Session

from creditdesk.access import service as access
from creditdesk.actors import Actor, Channel
from creditdesk.clock import Clock
from creditdesk.config import Settings
from creditdesk.db import read_only
from creditdesk.errors import NotAuthenticated
from creditdesk.users.models import User


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


def get_clock(request: Request) -> Clock:
    return request.app.state.clock


def get_now(request: Request) -> datetime:
    return request.app.state.clock()


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


DbSession = Annotated[Session, Depends(get_session, scope="function")]
ReadSession = Annotated[Session, Depends(get_read_session, scope="function")]
Now = Annotated[datetime, Depends(get_now)]
AppSettings = Annotated[Settings, Depends(get_settings)]


def get_current_user(request: Request, now: Now) -> User:
    """The user behind the bearer token.

    Looked up in a short read-only session of its own, so the request's
    unit of work starts only when the endpoint needs it. The returned user is
    detached: read its columns, load related rows through a session.
    """
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("send an Authorization: Bearer <token> header")
    cache = request.app.state.token_cache
    user = cache.get(token.strip(), now=now)
    if user is None:
        with read_only(request.app.state.session_factory()) as session:
            user = access.authenticate(session, token.strip(), now=now, cache=cache)
    request.state.user_id = user.id
    structlog.contextvars.bind_contextvars(user_id=user.id)
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_actor(user: CurrentUser) -> Actor:
    return access.actor_for(user, Channel.API)


CurrentActor = Annotated[Actor, Depends(get_actor)]
