"""Signing in and out of the console, with the API's web sessions."""

from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from creditdesk.access.models import WebSession
from creditdesk.api.deps import AppSettings, DbSession, Now
from creditdesk.auth import sessions
from creditdesk.errors import DomainError, Forbidden
from creditdesk.web.deps import Form, WebUser, client_ip, safe_next
from creditdesk.web.render import flash, render, secure

router = APIRouter(include_in_schema=False)


@router.get("/sign-in")
def sign_in_form(request: Request, next: str | None = None) -> Response:
    """The sign-in form; ``next`` is where to go after it."""
    return render(
        request, "auth/sign_in.html", next=safe_next(next), username="", error=None
    )


@router.post("/sign-in")
def sign_in(
    request: Request, form: Form, session: DbSession, now: Now, settings: AppSettings
) -> Response:
    """Check the password and open a session; errors are shown on the form.

    The failure is answered, not raised, so the request's transaction commits
    the failure count that the throttle and lockout rely on.
    """
    username = form.get("username", "")
    target = safe_next(form.get("next"))
    try:
        _check_origin(request)
        signed = sessions.sign_in(
            session,
            username=username,
            password=form.get("password", ""),
            now=now,
            client_ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
            settings=settings,
        )
    except DomainError as exc:
        return render(
            request,
            "auth/sign_in.html",
            status_code=exc.status,
            headers=_retry_after(exc),
            next=target,
            username=username,
            error=exc.detail,
        )

    response = secure(RedirectResponse(target, status_code=303))
    response.set_cookie(
        sessions.COOKIE_NAME,
        signed.secret,
        max_age=int(sessions.Lifetimes.of(settings).absolute.total_seconds()),
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
    )
    return response


@router.post("/sign-out")
def sign_out(request: Request, user: WebUser, session: DbSession, now: Now) -> Response:
    """End the session (the CSRF token was checked with the user) and go to
    the sign-in form."""
    web = session.get_one(WebSession, request.state.principal.web_session_id)
    sessions.sign_out(session, web=web, user=user, now=now)
    response = secure(RedirectResponse("/sign-in", status_code=303))
    response.delete_cookie(
        sessions.COOKIE_NAME, path="/", secure=True, httponly=True, samesite="lax"
    )
    return flash(request, response, "You are signed out.")


def _retry_after(error: DomainError) -> dict[str, str]:
    if "retry_after" not in error.extra:
        return {}
    return {"Retry-After": str(error.extra["retry_after"])}


def _check_origin(request: Request) -> None:
    # No session yet, so no CSRF token: a sign-in posted from another site
    # (to sign the victim in as the attacker) is refused by its Origin.
    origin = request.headers.get("origin")
    if origin is None:
        return
    if urlsplit(origin).netloc != request.url.netloc:
        raise Forbidden("sign in from this site's own sign-in page")
