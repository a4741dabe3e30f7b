"""Errors on pages are pages: HTML with the error's status, never JSON.

The API's problem+json handlers stay in place for the API; these wrap them
and answer HTML for every path that is not the API's (or its docs, health
checks and static files). A page whose session is missing or over is sent
to the sign-in form instead.
"""

from collections.abc import Awaitable, Callable

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException

from creditdesk.errors import Conflict, DomainError, NotFound
from creditdesk.web.deps import SignInRequired, is_htmx, sign_in_url
from creditdesk.web.render import render, secure

log = structlog.get_logger(__name__)

# Everything under these is the API's and keeps answering problem+json.
NOT_PAGES = ("/api/", "/openapi.json", "/docs", "/healthz", "/readyz", "/static/")

Handler = Callable[[Request, Exception], Awaitable[Response] | Response]

_HEADINGS = {
    400: "That request could not be used",
    401: "Sign in to continue",
    403: "You may not do that",
    404: "Not found",
    409: "That could not be done now",
    422: "Some of what you entered needs another look",
    423: "This user is locked for a while",
    429: "Too many attempts",
    500: "Something went wrong on our side",
}


def is_page(request: Request) -> bool:
    """Whether ``request`` is for the console rather than the API."""
    return not request.url.path.startswith(NOT_PAGES)


def error_page(request: Request, status: int, detail: str) -> Response:
    """The HTML error page: a heading for the status and the detail."""
    return render(
        request,
        "errors/error.html",
        status_code=status,
        status=status,
        heading=_HEADINGS.get(status, _HEADINGS[400]),
        detail=detail,
    )


def _to_sign_in(request: Request) -> Response:
    # After a POST the form is gone; come back to the page it was posted from
    # only for a GET, where coming back repeats nothing.
    back = request.url.path
    if request.url.query:
        back += "?" + request.url.query
    target = sign_in_url(back if request.method == "GET" else "/")
    if is_htmx(request):
        # htmx follows HX-Redirect with a full page load, not a fragment swap.
        return secure(Response(status_code=200, headers={"HX-Redirect": target}))
    return secure(RedirectResponse(target, status_code=303))


def _page_response(request: Request, exc: Exception) -> Response:
    if isinstance(exc, SignInRequired):
        return _to_sign_in(request)
    if isinstance(exc, DomainError):
        log.info("page.refused", status=exc.status, type=exc.type_slug)
        return error_page(request, exc.status, exc.detail)
    if isinstance(exc, StaleDataError):
        error = Conflict("the record was changed by someone else; reload and retry")
        return error_page(request, error.status, error.detail)
    if isinstance(exc, RequestValidationError):
        # A path parameter that is not a number cannot name a record.
        return error_page(request, 404, NotFound("no such page").detail)
    if isinstance(exc, HTTPException):
        detail = "there is no page at this address"
        if exc.status_code != 404:
            detail = str(exc.detail)
        return error_page(request, exc.status_code, detail)
    log.exception("page.failed", path=request.url.path)
    return error_page(request, 500, "the error was logged; try again in a moment")


def _either(api_handler: Handler) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        if not is_page(request):
            answer = api_handler(request, exc)
            return await answer if isinstance(answer, Awaitable) else answer
        return _page_response(request, exc)

    return handle


def install(app: FastAPI) -> None:
    """Answer pages' errors with HTML; call after ``api.problems.install``."""
    for kind in (
        DomainError,
        RequestValidationError,
        StaleDataError,
        HTTPException,
        Exception,
    ):
        app.add_exception_handler(kind, _either(app.exception_handlers[kind]))
