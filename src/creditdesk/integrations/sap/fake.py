"""A fake S/4HANA speaking the part of API_CREDIT_MEMO_REQUEST_SRV we use.

It follows SAP's published OData V2 service: entity set
``A_CreditMemoRequest`` with a deep insert of ``to_Item`` and the items'
``to_PricingElement``; ``$filter`` with ``eq`` on ``PurchaseOrderByCustomer``
or a ``CreationDate`` range, ``$orderby``, ``$top``, ``$skip``, server-side
paging with a ``__next`` link when ``page_limit`` is set, and
``$format=json`` (see ``fake_query``); CSRF tokens handed out to
``X-CSRF-Token: Fetch`` on a GET and bound to the session cookie, a stale
one refused with ``403`` and ``X-CSRF-Token: Required``; OData error bodies
(``{"error": {"code", "message": {"lang", "value"}, "innererror"}}``);
basic authentication, or bearer tokens from ``/sap/bc/sec/oauth2/token``
(client credentials). Edm.Decimal values must come as JSON strings, and an
unknown property is refused, as SAP's gateway does.

``create_app()`` serves it for ``creditdesk fake-billing``: user
``CREDITDESK`` / ``fake-password``, client ``creditdesk`` / ``fake-secret``,
and every sold-to party exists. Tests build a ``FakeSap`` to choose those,
inject faults through ``FakeSap.faults`` and read what was created.
"""

import asyncio
import base64
import itertools
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp

from creditdesk.clock import Clock, system_clock
from creditdesk.integrations.fakes.server import (
    FaultInjector,
    Faults,
    WholeRequestFirst,
)
from creditdesk.integrations.sap import fake_items, fake_query
from creditdesk.integrations.sap.adapter import ENTITY_SET, SERVICE_PATH
from creditdesk.integrations.sap.fake_items import item_view
from creditdesk.integrations.sap.fake_schema import ODataError, validated

TOKEN_PATH = "/sap/bc/sec/oauth2/token"  # noqa: S105 - a path, not a secret
SESSION_COOKIE = "SAP_SESSIONID_FAK_100"
ENTITY_TYPE = "API_CREDIT_MEMO_REQUEST_SRV.A_CreditMemoRequestType"
_FIRST_NUMBER = 60000001


@dataclass
class FakeSap:
    """The fake's configuration and in-memory state; thread-safe."""

    username: str = "CREDITDESK"
    password: str = "fake-password"  # noqa: S105 - the fake's demo login
    client_id: str = "creditdesk"
    client_secret: str = "fake-secret"  # noqa: S105 - the fake's demo login
    # None: every sold-to party exists; otherwise only these do.
    customers: set[str] | None = None
    # What a memo request's CreationDate is taken from.
    clock: Clock = system_clock
    # The most results one answer holds; more are behind its ``__next`` link.
    page_limit: int | None = None
    faults: Faults = field(default_factory=Faults)
    # Rejection reasons the tenant defines, ETags and what was billed.
    items: fake_items.ItemStore = field(default_factory=fake_items.ItemStore)
    # Called in a thread of its own when a create arrives, before it is
    # stored: a test can hold one create there while others are served.
    before_create: Callable[[], None] | None = None
    memo_requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Kept apart from the stored request, which is exactly what was sent.
    created_on: dict[str, date] = field(default_factory=dict)
    csrf_fetches: int = 0
    tokens_issued: list[str] = field(default_factory=list)
    _sessions: dict[str, str] = field(default_factory=dict)
    _bearers: set[str] = field(default_factory=set)
    _csrf_refusals: int = 0
    _numbers: Any = field(default_factory=lambda: itertools.count(_FIRST_NUMBER))
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def memo_request(self, number: str) -> dict[str, Any] | None:
        """The stored memo request ``number`` with its CreationDate, if any."""
        with self._changed:
            memo = self.memo_requests.get(number)
            if memo is None:
                return None
            return {**memo, "CreationDate": self.created_on[number]}

    def by_reference(self, reference: str) -> list[dict[str, Any]]:
        """The memo requests whose PurchaseOrderByCustomer is ``reference``."""
        with self._changed:
            return [
                dict(memo)
                for memo in self.memo_requests.values()
                if memo.get("PurchaseOrderByCustomer") == reference
            ]

    def matching(self, query: fake_query.Query) -> list[dict[str, Any]]:
        """The memo requests a query selects, in its order, before paging."""
        with self._changed:
            found = [
                {**memo, "CreationDate": self.created_on[number]}
                for number, memo in self.memo_requests.items()
                if _selected(query, memo, self.created_on[number])
            ]
        for name in reversed(query.order_by):
            found.sort(key=lambda memo, name=name: memo[name])
        return found

    def wait_for_memo_requests(self, count: int, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` memo requests exist (or time out)."""
        with self._changed:
            return self._changed.wait_for(
                lambda: len(self.memo_requests) >= count, timeout
            )

    def end_sessions(self) -> None:
        """Every CSRF token becomes stale, as when SAP's sessions time out."""
        with self._changed:
            self._sessions.clear()

    def refuse_csrf(self, times: int) -> None:
        """The next ``times`` writes find their CSRF token stale."""
        with self._changed:
            self._csrf_refusals += times

    def revoke_tokens(self) -> None:
        """Every OAuth access token issued so far stops working."""
        with self._changed:
            self._bearers.clear()

    def _issue_bearer(self) -> str:
        token = secrets.token_urlsafe(16)
        with self._changed:
            self._bearers.add(token)
            self.tokens_issued.append(token)
        return token

    def _signed_in(self, authorization: str) -> bool:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer":
            with self._changed:
                return value in self._bearers
        if scheme.lower() == "basic":
            return _basic_pair(value) == (self.username, self.password)
        return False

    def _fetch_csrf(self, session_id: str | None) -> tuple[str, str]:
        with self._changed:
            self.csrf_fetches += 1
            if session_id not in self._sessions:
                session_id = secrets.token_hex(16)
            token = secrets.token_urlsafe(18)
            self._sessions[session_id] = token
            return session_id, token

    def _csrf_valid(self, session_id: str | None, token: str | None) -> bool:
        with self._changed:
            if self._csrf_refusals > 0:
                self._csrf_refusals -= 1
                return False
            return bool(token) and self._sessions.get(session_id or "") == token

    def _store(self, entity: dict[str, Any]) -> dict[str, Any]:
        with self._changed:
            number = str(next(self._numbers))
            entity = {"CreditMemoRequest": number, **entity}
            self.memo_requests[number] = entity
            self.created_on[number] = self.clock().date()
            self._changed.notify_all()
            return entity


def create_app(fake: FakeSap | None = None) -> ASGIApp:
    """The fake as an ASGI app, with its fault injector in front."""
    fake = fake or FakeSap()
    api = FastAPI(title="Fake SAP S/4HANA", openapi_url=None)
    _routes(api, fake)
    return WholeRequestFirst(FaultInjector(api, fake.faults))


def _routes(api: FastAPI, fake: FakeSap) -> None:
    @api.exception_handler(ODataError)
    async def odata_error(request: Request, exc: ODataError) -> Response:
        return _error(exc)

    @api.post(TOKEN_PATH)
    async def token(request: Request) -> Response:
        form = parse_qs((await request.body()).decode())
        pair = (form.get("client_id", [""])[0], form.get("client_secret", [""])[0])
        if form.get("grant_type") != ["client_credentials"]:
            return JSONResponse({"error": "unsupported_grant_type"}, 400)
        if pair != (fake.client_id, fake.client_secret):
            return JSONResponse({"error": "invalid_client"}, 401)
        body = {
            "access_token": fake._issue_bearer(),
            "token_type": "bearer",
            "expires_in": 3600,
        }
        return JSONResponse(body)

    @api.get(f"{SERVICE_PATH}/")
    async def service_document(request: Request) -> Response:
        _authenticate(fake, request)
        body = {"d": {"EntitySets": ["A_CreditMemoRequest", "A_CreditMemoRequestItem"]}}
        return _with_csrf(fake, request, JSONResponse(body))

    @api.get(ENTITY_SET)
    async def query(request: Request) -> Response:
        _authenticate(fake, request)
        options = fake_query.parse(request.query_params, default_top=100)
        base = _service_url(request)
        found = fake.matching(options)[options.skip :]
        size = min(options.top, fake.page_limit or options.top)
        page = found[:size]
        body: dict[str, Any] = {
            "results": [_header_view(m, base, fake.items) for m in page]
        }
        if len(found) > size and size < options.top:
            body["__next"] = _next_link(request, options, size)
        return _with_csrf(fake, request, JSONResponse({"d": body}))

    @api.get(ENTITY_SET + "('{number}')")
    async def read(number: str, request: Request) -> Response:
        _authenticate(fake, request)
        memo = fake.memo_request(number)
        if memo is None:
            raise ODataError(404, "/IWBEP/CM_MGW_RT/020", "Resource not found")
        base = _service_url(request)
        view = _header_view(memo, base, fake.items)
        if request.query_params.get("$expand") == "to_Item":
            items = [item_view(fake.items, number, i, base) for i in memo["to_Item"]]
            view["to_Item"] = {"results": items}
        return _with_csrf(fake, request, JSONResponse({"d": view}))

    fake_items.routes(
        api,
        fake.items,
        memo=fake.memo_request,
        authenticate=lambda request: _authenticate(fake, request),
        csrf_refused=lambda request: _csrf_refusal(fake, request),
        with_csrf=lambda request, response: _with_csrf(fake, request, response),
        service_url=_service_url,
    )

    @api.post(ENTITY_SET)
    async def create(request: Request) -> Response:
        _authenticate(fake, request)
        refused = _csrf_refusal(fake, request)
        if refused is not None:
            return refused
        raw = await request.body()
        if fake.before_create is not None:
            await asyncio.to_thread(fake.before_create)
        stored = fake._store(validated(raw, fake.customers))
        created = fake.created_on[stored["CreditMemoRequest"]]
        entity = {**stored, "CreationDate": created}
        base = _service_url(request)
        uri = f"{base}/A_CreditMemoRequest('{entity['CreditMemoRequest']}')"
        body = {"d": _full_view(entity, base, fake.items)}
        return JSONResponse(body, status_code=201, headers={"location": uri})


def _csrf_refusal(fake: FakeSap, request: Request) -> Response | None:
    if fake._csrf_valid(
        request.cookies.get(SESSION_COOKIE), request.headers.get("x-csrf-token")
    ):
        return None
    return PlainTextResponse(
        "CSRF token validation failed",
        status_code=403,
        headers={"x-csrf-token": "Required"},
    )


def _authenticate(fake: FakeSap, request: Request) -> None:
    if not fake._signed_in(request.headers.get("authorization", "")):
        raise _Unauthorised()


class _Unauthorised(ODataError):
    def __init__(self) -> None:
        super().__init__(401, "", "Logon failed")


def _error(exc: ODataError) -> Response:
    if isinstance(exc, _Unauthorised):
        # SAP answers a failed logon with a page, not an OData error.
        return PlainTextResponse(
            "Logon failed",
            status_code=401,
            headers={"www-authenticate": 'Basic realm="SAP NetWeaver (FAK/100)"'},
        )
    body = {
        "error": {
            "code": exc.code,
            "message": {"lang": "en", "value": exc.message},
            "innererror": {
                "transactionid": secrets.token_hex(16).upper(),
                "timestamp": datetime.now(UTC).strftime("%Y%m%d%H%M%S.%f"),
                "errordetails": [
                    {"code": exc.code, "message": exc.message, "severity": "error"}
                ],
            },
        }
    }
    return JSONResponse(body, status_code=exc.status)


def _with_csrf(fake: FakeSap, request: Request, response: Response) -> Response:
    if request.headers.get("x-csrf-token", "").lower() != "fetch":
        return response
    session_id, token = fake._fetch_csrf(request.cookies.get(SESSION_COOKIE))
    response.headers["x-csrf-token"] = token
    response.set_cookie(SESSION_COOKIE, session_id, path="/", httponly=True)
    response.set_cookie("sap-usercontext", "sap-client=100", path="/")
    return response


def _selected(query: fake_query.Query, memo: dict[str, Any], created: date) -> bool:
    if query.reference is not None:
        return memo.get("PurchaseOrderByCustomer") == query.reference
    assert query.created_from is not None and query.created_to is not None
    return query.created_from <= created <= query.created_to


def _next_link(request: Request, options: fake_query.Query, size: int) -> str:
    # $top counts across pages, so the link asks for what is left of it.
    params = {k: v for k, v in request.query_params.items() if k != "$skip"}
    if "$top" in params:
        params["$top"] = str(options.top - size)
    params["$skiptoken"] = str(options.skip + size)
    query = urlencode(params, quote_via=quote, safe="'$")
    return f"{_service_url(request)}/A_CreditMemoRequest?{query}"


def _service_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + SERVICE_PATH


def _header_view(
    memo: dict[str, Any], base: str, items: fake_items.ItemStore
) -> dict[str, Any]:
    uri = f"{base}/A_CreditMemoRequest('{memo['CreditMemoRequest']}')"
    view = {key: value for key, value in memo.items() if key != "to_Item"}
    created = datetime.combine(memo["CreationDate"], time.min, tzinfo=UTC)
    view.update(
        __metadata={"id": uri, "uri": uri, "type": ENTITY_TYPE},
        # OData V2 JSON writes Edm.DateTime as milliseconds since 1970.
        CreationDate=f"/Date({int(created.timestamp()) * 1000})/",
        TotalNetAmount=str(_net(memo)),
        OverallSDProcessStatus="A",
        OverallSDDocumentRejectionSts=fake_items.rejection_status(memo["to_Item"]),
        OverallOrdReltdBillgStatus="C"
        if items.billed(memo["CreditMemoRequest"])
        else "A",
        to_Item={"__deferred": {"uri": f"{uri}/to_Item"}},
    )
    return view


def _full_view(
    memo: dict[str, Any], base: str, items: fake_items.ItemStore
) -> dict[str, Any]:
    view = _header_view(memo, base, items)
    view["to_Item"] = {"results": [dict(item) for item in memo["to_Item"]]}
    for item in view["to_Item"]["results"]:
        item["to_PricingElement"] = {"results": item["to_PricingElement"]}
    return view


def _net(memo: dict[str, Any]) -> Decimal:
    total = Decimal(0)
    for item in memo["to_Item"]:
        quantity = Decimal(item.get("RequestedQuantity", "1"))
        for element in item["to_PricingElement"]:
            total += quantity * Decimal(element.get("ConditionRateValue", "0"))
    return total


def _basic_pair(value: str) -> tuple[str, str] | None:
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    user, _, password = decoded.partition(":")
    return user, password
