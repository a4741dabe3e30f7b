"""The fake Zuora's request and response envelope.

Zuora answers a business error with HTTP 200, ``success: false`` and a list
of ``reasons`` (code and message) beside a ``processId``; bodies are JSON,
but the OAuth token request is a form.
"""

import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

from starlette.responses import Response

from creditdesk.integrations.payloads import json_bytes
from creditdesk.integrations.zuora.fake_query import Refusal

IN_FLIGHT = Refusal(
    50000050, "A request with this Idempotency-Key is still being processed."
)
KEY_REUSED = Refusal(
    50000020, "This Idempotency-Key was used with a different request."
)


def reply(status: int, body: dict[str, Any]) -> Response:
    return Response(json_bytes(body), status, media_type="application/json")


def refusal(status: int, reason: Refusal) -> Response:
    return reply(
        status,
        {
            "success": False,
            "processId": uuid.uuid4().hex[:16].upper(),
            "reasons": [{"code": reason.code, "message": reason.message}],
        },
    )


def answer(operation: Callable[..., dict[str, Any]], *args: Any) -> Response:
    """Run one operation; a business error is a 200 with ``success: false``."""
    try:
        return reply(200, {**operation(*args), "success": True})
    except Refusal as reason:
        return refusal(200, reason)


def parse_json(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        parsed = json.loads(body, parse_float=Decimal, parse_int=Decimal)
    except ValueError:
        raise Refusal(50000090, "The request body is not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise Refusal(50000090, "The request body must be a JSON object.")
    return parsed


def parse_form(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode()).items()}
