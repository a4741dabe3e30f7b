"""A fake Salesforce org speaking the REST API calls the adapter makes.

Followed from Salesforce's REST API reference: the OAuth 2.0 client
credentials and JWT bearer flows (``POST /services/oauth2/token``,
form-encoded, the assertion checked as ``fake_jwt`` says; answering
``access_token``, ``instance_url``, ``id``, ``token_type``, ``issued_at``,
``signature``), ``POST /services/data/vXX.X/composite`` with ``allOrNone``
and ``@{ref.id}`` references, ``GET /services/data/vXX.X/query?q=`` and
``PATCH /services/data/vXX.X/sobjects/{sobject}/{id}`` (204). Data calls need
``Authorization: Bearer``; a bad or expired token answers 401
``INVALID_SESSION_ID``. Only the SOQL shapes creditdesk sends are understood
(three lookups and the reconciliation's listing of credit notes by date);
anything else is ``MALFORMED_QUERY``. A query answer holds at most
``Org.query_batch_size`` records and names the rest with ``nextRecordsUrl``
(``GET .../query/{locator}``), as Salesforce does.
"""

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp

from creditdesk.integrations.fakes.server import FaultInjector
from creditdesk.integrations.payloads import json_bytes
from creditdesk.integrations.salesforce import (
    fake_composite,
    fake_jwt,
    fake_unallocation,
    soql,
)
from creditdesk.integrations.salesforce.client import JWT_BEARER_GRANT
from creditdesk.integrations.salesforce.fake_org import (
    ALLOCATION,
    LINE,
    NOTE,
    Org,
    SalesforceError,
    check_status,
)
from creditdesk.integrations.salesforce.settings import SalesforceSettings

_VERSION = re.compile(r"v[0-9]+\.[0-9]")
_L = soql.LITERAL
# Patterns that read the adapter's queries (S608 mistakes them for queries).
_NOTE_BY_KEY = re.compile(
    rf"SELECT Id, Name, blng__Status__c FROM {NOTE} WHERE (\w+) = {_L}"  # noqa: S608
)
_INVOICE_LINE = re.compile(
    r"SELECT Id FROM blng__InvoiceLine__c WHERE blng__Invoice__r\.Name = "  # noqa: S608
    rf"{_L} AND blng__Invoice__r\.blng__Account__c = {_L} ORDER BY Name LIMIT 1"
)
_DAY = r"(\d{4}-\d\d-\d\d)"
_NOTES_DATED = re.compile(
    r"SELECT Id, Name, (\w+), blng__Account__c, blng__TotalAmount__c, "  # noqa: S608
    rf"blng__CreditNoteDate__c(, CurrencyIsoCode)? FROM {NOTE} "
    rf"WHERE blng__CreditNoteDate__c >= {_DAY} AND blng__CreditNoteDate__c <= "
    rf"{_DAY} ORDER BY blng__CreditNoteDate__c, Id"
)
_OPEN_ALLOCATIONS = re.compile(
    r"SELECT Id, blng__CreditNoteLine__c, blng__InvoiceLine__c, "  # noqa: S608
    rf"blng__Amount__c FROM {ALLOCATION} WHERE "
    rf"blng__CreditNoteLine__r\.blng__CreditNote__c = {_L} AND "
    r"blng__Type__c != 'Unallocation' AND blng__Unallocated__c = false"
)
_ALLOCATED = re.compile(
    rf"SELECT Id FROM {ALLOCATION} WHERE "  # noqa: S608
    rf"blng__CreditNoteLine__r\.blng__CreditNote__c = {_L} LIMIT 1"
)


def create_app(org: Org | None = None) -> ASGIApp:
    """The fake org as an ASGI app.

    Without ``org`` (the demo) it is an open-world org that accepts the
    client id and secret in ``CREDITDESK_SALESFORCE_*`` when they are set.
    """
    org = org or demo_org()
    app = FastAPI(title="Fake Salesforce")

    @app.middleware("http")
    async def seen(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        host = request.headers.get("host", "")
        with org.lock:
            org.requests.append((request.method, host, request.url.path))
        return await call_next(request)

    @app.exception_handler(SalesforceError)
    async def refused(request: Request, exc: SalesforceError) -> Response:
        return JSONResponse(exc.body, status_code=exc.status)

    @app.post("/services/oauth2/token")
    async def token(request: Request) -> Response:
        return _token(org, request, (await request.body()).decode())

    @app.get("/services/data/{version}/query")
    def query(version: str, q: str, request: Request) -> Response:
        _authorise(org, request, version)
        records = _query(org, version, q)
        query_id = f"01g{secrets.token_hex(8)}"
        return _batch(org, version, query_id, records, len(records))

    @app.get("/services/data/{version}/query/{locator}")
    def more(version: str, locator: str, request: Request) -> Response:
        _authorise(org, request, version)
        query_id, _, offset = locator.rpartition("-")
        with org.lock:
            kept = org.query_cursors.pop(locator, None)
        if kept is None:
            raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        total, records = kept
        return _batch(org, version, query_id, records, total, int(offset))

    @app.post("/services/data/{version}/composite")
    async def composite(version: str, request: Request) -> Response:
        _authorise(org, request, version)
        raw = await request.body()
        with org.lock:
            org.composite_bodies.append(raw)
            answer = fake_composite.run(org, version, _json(raw))
            lost = org.lose_composite_answers > 0
            org.lose_composite_answers -= int(lost)
        if lost:
            return Response("<html>504 Gateway Timeout</html>", status_code=504)
        return JSONResponse({"compositeResponse": answer})

    @app.patch("/services/data/{version}/sobjects/{sobject}/{record_id}")
    async def update(
        version: str, sobject: str, record_id: str, request: Request
    ) -> Response:
        _authorise(org, request, version)
        _update(org, sobject, record_id, _json(await request.body()))
        return Response(status_code=204)

    return FaultInjector(app, org.faults)


def demo_org() -> Org:
    """The open-world org ``fake-billing salesforce`` serves: it takes the
    client id and secret in ``CREDITDESK_SALESFORCE_*`` when they are set."""
    settings = SalesforceSettings()
    org = Org(open_world=True, key_field=settings.key_field)
    if settings.client_id and settings.client_secret:
        org.client_id = settings.client_id
        org.client_secret = settings.client_secret.get_secret_value()
    return org


def _token(org: Org, request: Request, text: str) -> Response:
    form = {name: values[0] for name, values in parse_qs(text).items()}
    grant = form.get("grant_type")
    if grant == JWT_BEARER_GRANT:
        refusal = fake_jwt.refusal(org, form.get("assertion", ""))
        if refusal is not None:
            return _oauth_error(*refusal)
    elif grant != "client_credentials":
        return _oauth_error("unsupported_grant_type", "grant type not supported")
    elif (form.get("client_id"), form.get("client_secret")) != (
        org.client_id,
        org.client_secret,
    ):
        return _oauth_error("invalid_client", "invalid client credentials")

    issued_at = str(int(time.time() * 1000))
    instance = org.instance_url or str(request.base_url).rstrip("/")
    identity = f"{instance}/id/00D5g000000Fake/0055g000000Fake"
    digest = hmac.new(
        org.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
    ).digest()
    body = {
        "access_token": org.issue_token(),
        "instance_url": instance,
        "id": identity,
        "token_type": "Bearer",
        "issued_at": issued_at,
        "signature": base64.b64encode(digest).decode(),
    }
    return JSONResponse(body)


def _oauth_error(error: str, description: str) -> Response:
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=400
    )


def _authorise(org: Org, request: Request, version: str) -> None:
    org.check_token(request.headers.get("authorization", ""))
    if not _VERSION.fullmatch(version):
        raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_float=Decimal)
    except ValueError as exc:
        raise SalesforceError(400, "JSON_PARSER_ERROR", str(exc)) from None


def _query(org: Org, version: str, q: str) -> list[dict[str, Any]]:
    with org.lock:
        if match := _NOTE_BY_KEY.fullmatch(q):
            if match[1] not in (org.key_field, "Id"):
                raise SalesforceError(
                    400, "INVALID_FIELD", f"No such column '{match[1]}' on {NOTE}"
                )
            key = soql.unquote(match[2])
            rows = [r for r in org.table(NOTE).values() if r.get(match[1]) == key]
            fields = ("Id", "Name", "blng__Status__c")
            return [_record(version, NOTE, row, fields) for row in rows]
        if match := _INVOICE_LINE.fullmatch(q):
            name, account = soql.unquote(match[1]), soql.unquote(match[2])
            rows = org.invoice_lines(name, account)[:1]
            return [_record(version, "blng__InvoiceLine__c", r, ("Id",)) for r in rows]
        if match := _NOTES_DATED.fullmatch(q):
            return _notes_dated(org, version, match)
        if match := _OPEN_ALLOCATIONS.fullmatch(q):
            rows = fake_unallocation.open_allocations(org, soql.unquote(match[1]))
            fields = (
                "Id",
                "blng__CreditNoteLine__c",
                "blng__InvoiceLine__c",
                "blng__Amount__c",
            )
            return [_record(version, ALLOCATION, r, fields) for r in rows]
        if match := _ALLOCATED.fullmatch(q):
            return _allocations_of(org, version, soql.unquote(match[1]))
    raise SalesforceError(400, "MALFORMED_QUERY", f"unexpected query: {q}")


def _batch(
    org: Org,
    version: str,
    query_id: str,
    records: list[dict[str, Any]],
    total: int,
    offset: int = 0,
) -> Response:
    size = org.query_batch_size
    body: dict[str, Any] = {"totalSize": total, "done": len(records) <= size}
    if len(records) > size:
        locator = f"{query_id}-{offset + size}"
        with org.lock:
            org.query_cursors[locator] = (total, records[size:])
        body["nextRecordsUrl"] = f"/services/data/{version}/query/{locator}"
    body["records"] = records[:size]
    # json_bytes writes the Decimal amounts as JSON numbers, as Salesforce does.
    return Response(json_bytes(body), media_type="application/json")


def _notes_dated(org: Org, version: str, match: re.Match[str]) -> list[dict]:
    if match[1] != org.key_field:
        raise SalesforceError(
            400, "INVALID_FIELD", f"No such column '{match[1]}' on {NOTE}"
        )
    first, last = match[3], match[4]
    rows = [
        {**row, "blng__TotalAmount__c": org.note_total(row["Id"])}
        for row in org.table(NOTE).values()
        if first <= row["blng__CreditNoteDate__c"] <= last
    ]
    rows.sort(key=lambda row: (row["blng__CreditNoteDate__c"], row["Id"]))
    fields = ["Id", "Name", match[1], "blng__Account__c", "blng__TotalAmount__c"]
    fields += ["blng__CreditNoteDate__c"] + (["CurrencyIsoCode"] if match[2] else [])
    return [_record(version, NOTE, row, tuple(fields)) for row in rows]


def _allocations_of(org: Org, version: str, note_id: str) -> list[dict[str, Any]]:
    lines = {
        line_id
        for line_id, line in org.table(LINE).items()
        if line["blng__CreditNote__c"] == note_id
    }
    rows = [
        row
        for row in org.table(ALLOCATION).values()
        if row["blng__CreditNoteLine__c"] in lines
    ]
    return [_record(version, ALLOCATION, row, ("Id",)) for row in rows[:1]]


def _record(
    version: str, sobject: str, row: dict[str, Any], fields: tuple[str, ...]
) -> dict[str, Any]:
    url = f"/services/data/{version}/sobjects/{sobject}/{row['Id']}"
    return {"attributes": {"type": sobject, "url": url}} | {
        name: row.get(name) for name in fields
    }


def _update(org: Org, sobject: str, record_id: str, body: Any) -> None:
    with org.lock:
        row = org.table(sobject).get(record_id) if sobject == NOTE else None
        if row is None:
            raise SalesforceError(
                404, "NOT_FOUND", "The requested resource does not exist"
            )
        if not isinstance(body, dict) or set(body) - {"blng__Status__c"}:
            raise SalesforceError(
                400, "INVALID_FIELD", f"Only status is fake on {NOTE}"
            )
        status = body.get("blng__Status__c")
        check_status(status)
        fake_unallocation.check_status_change(org, record_id, str(status), {})
        row["blng__Status__c"] = status
