"""Dependencies for pages: the signed-in user, their actor and the form.

Pages authenticate with the web session cookie only, through the same code
as the API (``api.deps.get_current_user``): idle and absolute expiry, the
role's scopes and, on every POST, the session's CSRF token, sent as the
``csrf_token`` form field or, by htmx, the ``X-CSRF-Token`` header. A browser
without a live session is sent to ``/sign-in?next=<the page>``.
"""

from typing import Annotated
from urllib.parse import parse_qs, quote

from fastapi import Depends, Request

from creditdesk.access.service import actor_for
from creditdesk.actors import Actor, Channel
from creditdesk.api.deps import Now, PresentedCsrf, get_current_user
from creditdesk.auth import sessions
from creditdesk.errors import BadRequest, NotAuthenticated
from creditdesk.users.models import User

SIGN_IN_PATH = "/sign-in"
_FORM_TYPE = "application/x-www-form-urlencoded"
_FORM_MAX_BYTES = 64 * 1024


class SignInRequired(NotAuthenticated):
    """No live web session: the page handler redirects to the sign-in form."""

    type_slug = "sign-in-required"


def sign_in_url(next_path: str) -> str:
    """``/sign-in?next=...`` coming back to ``next_path`` afterwards."""
    return f"{SIGN_IN_PATH}?next={quote(next_path, safe='/')}"


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path on this site, else home. An
    absolute or protocol-relative URL would make an open redirect."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    return value


def get_web_user(request: Request, now: Now, csrf: PresentedCsrf) -> User:
    """The user of the session cookie, or SignInRequired.

    A bearer token is not accepted here: pages are for browsers.
    """
    if sessions.COOKIE_NAME not in request.cookies:
        raise SignInRequired("sign in to use the console")
    if "authorization" in request.headers:
        raise SignInRequired("pages take the session cookie, not a bearer token")
    try:
        user = get_current_user(request, now, csrf)
    except NotAuthenticated as exc:
        raise SignInRequired(exc.detail) from None
    request.state.web_user = user
    return user


WebUser = Annotated[User, Depends(get_web_user)]


def get_web_actor(user: WebUser) -> Actor:
    """Who the audit trail names for a change made on a page (channel web)."""
    return actor_for(user, Channel.WEB)


WebActor = Annotated[Actor, Depends(get_web_actor)]


async def get_form(request: Request) -> dict[str, str]:
    """The urlencoded form of a POST as ``{name: value}`` (the first value of
    a repeated name); empty for any other request. Pages post plain forms."""
    if not request.headers.get("content-type", "").startswith(_FORM_TYPE):
        return {}
    body = await request.body()
    if len(body) > _FORM_MAX_BYTES:
        raise BadRequest("the form is too large")
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


Form = Annotated[dict[str, str], Depends(get_form)]


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


__all__ = [
    "Form",
    "Now",
    "SignInRequired",
    "WebActor",
    "WebUser",
    "client_ip",
    "is_htmx",
    "safe_next",
    "sign_in_url",
]
