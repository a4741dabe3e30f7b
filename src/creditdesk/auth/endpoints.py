"""Signing in and out of web sessions, and managing your own API tokens."""

from datetime import datetime

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from creditdesk.access.models import WebSession
from creditdesk.api.deps import (
    AppSettings,
    CurrentActor,
    CurrentPrincipal,
    DbSession,
    Now,
    PresentedCsrf,
    ReadSession,
)
from creditdesk.api.problems import problem_response
from creditdesk.auth import sessions, tokens
from creditdesk.auth.schemas import (
    SessionOut,
    SignInIn,
    TokenIn,
    TokenIssuedOut,
    TokenOut,
    TokensOut,
)
from creditdesk.config import Settings
from creditdesk.errors import DomainError, NotAuthenticated, NotFound
from creditdesk.users.models import User

router = APIRouter(tags=["auth"])

_REFUSALS = {
    401: {"description": "Wrong username or password (the same for both)"},
    423: {"description": "Locked after repeated failures; see Retry-After"},
    429: {"description": "Too many failures: wait Retry-After seconds"},
}


@router.post("/auth/sign-in", response_model=SessionOut, responses=_REFUSALS)
def sign_in(
    body: SignInIn,
    request: Request,
    session: DbSession,
    now: Now,
    settings: AppSettings,
) -> JSONResponse:
    """Sign in with a password. Sets the `creditdesk_session` cookie and
    returns the CSRF token to send as `X-CSRF-Token` with every change."""
    try:
        signed = sessions.sign_in(
            session,
            username=body.username,
            password=body.password,
            now=now,
            client_ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
            settings=settings,
        )
    except DomainError as exc:
        # Answered rather than raised, so the request's unit of work commits
        # the failure count that the throttle and lockout rely on.
        return problem_response(exc, request)

    lifetimes = sessions.Lifetimes.of(settings)
    shown = SessionOut.of(signed.user, signed.web_session, lifetimes)
    response = JSONResponse(shown.model_dump(mode="json"))
    response.set_cookie(
        sessions.COOKIE_NAME,
        signed.secret,
        max_age=int(lifetimes.absolute.total_seconds()),
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
    )
    return response


@router.post("/auth/sign-out", status_code=status.HTTP_204_NO_CONTENT)
def sign_out(
    request: Request,
    session: DbSession,
    now: Now,
    settings: AppSettings,
    csrf: PresentedCsrf,
) -> Response:
    """End the session in the cookie (with its CSRF token) and clear the
    cookie. A session that has already ended just has its cookie cleared."""
    secret = request.cookies.get(sessions.COOKIE_NAME)
    live = _live_session(session, secret, now, settings) if secret else None
    if live is not None:
        web, user = live
        sessions.check_csrf(web, csrf, path=request.url.path)
        sessions.sign_out(session, web=web, user=user, now=now)

    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(
        sessions.COOKIE_NAME, path="/", secure=True, httponly=True, samesite="lax"
    )
    return response


@router.get("/auth/session")
def current_session(
    principal: CurrentPrincipal, session: ReadSession, settings: AppSettings
) -> SessionOut:
    """The web session in the cookie: its user, CSRF token and expiry."""
    if principal.web_session_id is None:
        raise NotFound("this request used a bearer token, not a web session")
    web = session.get_one(WebSession, principal.web_session_id)
    user = session.get_one(User, principal.user.id)
    return SessionOut.of(user, web, sessions.Lifetimes.of(settings))


@router.post("/tokens", status_code=status.HTTP_201_CREATED)
def issue_token(
    body: TokenIn,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    session: DbSession,
    now: Now,
    settings: AppSettings,
) -> TokenIssuedOut:
    """Issue yourself an API token with at most the scopes of the credential
    you ask with. The secret is in `token`, returned this once only."""
    token, secret = tokens.issue_own_token(
        session,
        caller=principal,
        name=body.name,
        scopes=body.scopes,
        expires_in_days=body.expires_in_days,
        max_days=settings.token_ttl_days,
        actor=actor,
        now=now,
    )
    return TokenIssuedOut(**TokenOut.of(token).model_dump(), token=secret)


@router.get("/tokens")
def list_tokens(principal: CurrentPrincipal, session: ReadSession) -> TokensOut:
    """Your tokens, newest first, without their secrets."""
    rows = tokens.tokens_of(session, user_id=principal.user.id)
    return TokensOut(items=[TokenOut.of(token) for token in rows])


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(
    token_id: int,
    request: Request,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    session: DbSession,
    now: Now,
) -> Response:
    """Revoke one of your tokens (an administrator, any token). It stops
    working at once in this process, and within `auth_cache_seconds` in
    others."""
    tokens.revoke_for_caller(
        session,
        caller=principal,
        token_id=token_id,
        actor=actor,
        now=now,
        cache=request.app.state.token_cache,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _live_session(
    session: Session, secret: str, now: datetime, settings: Settings
) -> tuple[WebSession, User] | None:
    try:
        return sessions.session_user(
            session, secret, now=now, lifetimes=sessions.Lifetimes.of(settings)
        )
    except NotAuthenticated:
        return None
