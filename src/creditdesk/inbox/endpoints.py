"""``POST /inbox/{system}``: billing systems tell us a memo was applied.

The callers are vendors, not users: these routes take no bearer token or
session; each request is verified against its system's shared secret
instead (see :mod:`creditdesk.inbox.verify`).
"""

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError

from creditdesk.api.deps import AppSettings, DbSession, Now
from creditdesk.auth.scopes import vendor_authenticated
from creditdesk.errors import FieldIssue, ValidationFailed
from creditdesk.inbox import service, verify
from creditdesk.inbox.schemas import BODIES, Callback, InboxEventOut
from creditdesk.inbox.settings import InboxSettings

router = APIRouter(prefix="/inbox", tags=["inbox"])


def get_inbox_settings(request: Request) -> InboxSettings:
    return request.app.state.inbox_settings


async def raw_body(request: Request) -> bytes:
    """The body exactly as sent: signatures are over these bytes."""
    return await request.body()


Secrets = Annotated[InboxSettings, Depends(get_inbox_settings)]
RawBody = Annotated[bytes, Depends(raw_body)]


@router.post("/{system}", **vendor_authenticated())
def receive(
    system: str,
    request: Request,
    body: RawBody,
    session: DbSession,
    now: Now,
    settings: AppSettings,
    secrets: Secrets,
) -> InboxEventOut:
    """Receive one event from ``system`` (`webhook`, `zuora`, `sap`,
    `salesforce`), verified with that system's secret. A memo-applied event
    for a posted credit moves it to `applied`; any other event is stored as
    `ignored` with the reason. A repeated event id answers as the first
    delivery did and changes nothing. 404 for a system with no secret, 401
    when the signature or credentials do not match (nothing stored)."""
    verify.check(system, headers=request.headers, body=body, now=now, settings=secrets)
    event = _parse(system, body)
    row, _new = service.receive(
        session, system=system, event=event, now=now, settings=settings
    )
    return InboxEventOut.of(row)


def _parse(system: str, body: bytes) -> Callback:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValidationFailed.on("body", "the body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise ValidationFailed.on("body", "the body must be a JSON object")
    try:
        parsed = BODIES[system].model_validate(payload)
    except ValidationError as exc:
        issues = [
            FieldIssue(
                ".".join(str(part) for part in error["loc"]) or "body", error["msg"]
            )
            for error in exc.errors()
        ]
        detail = "; ".join(f"{i.field}: {i.message}" for i in issues)
        raise ValidationFailed(detail, issues) from None
    return parsed.callback(payload)
