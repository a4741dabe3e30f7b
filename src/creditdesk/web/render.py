"""Rendering pages: the Jinja2 environment, ``render``, filters and flashes.

Every page and fragment goes through :func:`render`, so each HTML response
carries the same security headers and the same context (the signed-in user,
their CSRF token, the navigation their role may use, the flash message).
"""

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context

from creditdesk.money import format_amount
from creditdesk.web import nav
from creditdesk.web.zones import UTC_ZONE

TEMPLATES = Path(__file__).parent / "templates"

# Only our own origin: no inline script or style, no framing, forms post home.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Pages show personal and financial data: never keep them in a cache.
    "Cache-Control": "no-store",
}

FLASH_COOKIE = "creditdesk_flash"
_FLASH_MAX = 300


def money(minor: int | None, currency: str) -> str:
    """``1050, "GBP"`` -> ``"GBP 10.50"``, as the policy's messages write it."""
    if minor is None:
        return ""
    return f"{currency} {format_amount(minor, currency)}"


@pass_context
def when(context: Context, value: datetime | None) -> str:
    """A time in the reader's zone (``reader_zone``), as ``2026-03-14 09:26
    GMT``: the zone's abbreviation says which."""
    if value is None:
        return ""
    zone = context.get("reader_zone") or UTC_ZONE
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def label(value: object) -> str:
    """An enum value or snake_case key for people: ``more_info`` -> ``More info``."""
    text = str(getattr(value, "value", value)).replace("_", " ")
    return text[:1].upper() + text[1:]


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = money
    env.filters["when"] = when
    env.filters["label"] = label
    return env


ENV = _environment()


def render(
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render ``template`` (a path under web/templates) as a full response.

    The template also sees ``request``, ``user`` (the signed-in user or
    None), ``csrf_token``, ``nav`` (links for the user's role), ``flash``
    (a message left by the previous response), ``htmx`` (whether htmx
    asked, so a template may answer with a fragment) and ``reader_zone``
    (the zone times are shown in: the user's team's, UTC when signed out).
    """
    user = getattr(request.state, "web_user", None)
    principal = getattr(request.state, "principal", None)
    flash_text = read_flash(request)
    page = ENV.get_template(template).render(
        request=request,
        user=user,
        csrf_token=principal.csrf_token if principal is not None else "",
        nav=nav.links_for(user, request.url.path) if user is not None else [],
        flash=flash_text,
        htmx=request.headers.get("hx-request") == "true",
        reader_zone=_reader_zone(request, user),
        **context,
    )
    response = HTMLResponse(page, status_code=status_code, headers=dict(headers or {}))
    secure(response)
    if flash_text is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def _reader_zone(request: Request, user: Any) -> ZoneInfo:
    if user is None:
        return UTC_ZONE
    return request.app.state.reader_zones.of_team(user.team_id)


def secure(response: Response) -> Response:
    """Add the console's security headers (CSP and friends) to ``response``."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def flash(request: Request, response: Response, message: str) -> Response:
    """Leave ``message`` for the next page rendered (after a redirect).

    Signed with the app's secret key, so nobody can make the console show
    text of their choosing; the template escapes it like any other value.
    """
    text = message[:_FLASH_MAX]
    value = f"{_sign(request, text)}.{quote(text)}"
    response.set_cookie(
        FLASH_COOKIE, value, path="/", httponly=True, samesite="lax", max_age=60
    )
    return response


def read_flash(request: Request) -> str | None:
    """The flash message the browser brought, if its signature holds."""
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or "." not in raw:
        return None
    signature, _, quoted = raw.partition(".")
    text = unquote(quoted)
    if not hmac.compare_digest(signature, _sign(request, text)):
        return None
    return text


def _sign(request: Request, text: str) -> str:
    key = request.app.state.settings.secret_key.get_secret_value().encode()
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:32]
