"""Every error leaves as RFC 9457 ``application/problem+json``."""

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException

from creditdesk.errors import PROBLEM_BASE, Conflict, DomainError

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"


def problem_response(error: DomainError, request: Request) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else {}
    if "retry_after" in error.extra:
        headers["Retry-After"] = str(error.extra["retry_after"])
    return JSONResponse(
        error.problem(instance=request.url.path),
        status_code=error.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _field_path(location: tuple[Any, ...]) -> str:
    # ("body", "amount") -> "amount"; a whole-body error names "body".
    parts = [str(p) for p in location if p not in ("body", "query", "path")]
    return ".".join(parts) or str(location[0] if location else "body")


def _validation_problem(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = []
    for error in exc.errors():
        field = _field_path(tuple(error.get("loc", ())))
        message = str(error.get("msg", "invalid value"))
        if error.get("type") == "json_invalid":
            field, message = "body", "the body is not valid JSON"
        errors.append(
            {"field": field, "message": message.removeprefix("Value error, ")}
        )
    body = {
        "type": PROBLEM_BASE + "validation-error",
        "title": "The request is not valid",
        "status": 422,
        "detail": "; ".join(f"{e['field']}: {e['message']}" for e in errors),
        "instance": request.url.path,
        "field": errors[0]["field"] if errors else "body",
        "errors": errors,
    }
    return JSONResponse(body, status_code=422, media_type=PROBLEM_JSON)


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        log.info("request.refused", status=exc.status, type=exc.type_slug)
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_problem(request, exc)

    @app.exception_handler(StaleDataError)
    async def _stale(request: Request, _exc: StaleDataError) -> JSONResponse:
        error = Conflict("the record was changed by someone else; reload and retry")
        return problem_response(error, request)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        body = {
            "type": "about:blank",
            "title": str(exc.detail),
            "status": exc.status_code,
            "instance": request.url.path,
        }
        return JSONResponse(body, status_code=exc.status_code, media_type=PROBLEM_JSON)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request.failed", path=request.url.path)
        body = {
            "type": "about:blank",
            "title": "Internal server error",
            "status": 500,
            "instance": request.url.path,
        }
        return JSONResponse(body, status_code=500, media_type=PROBLEM_JSON)
