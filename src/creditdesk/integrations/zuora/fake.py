"""A fake Zuora Billing tenant: just the REST v1 calls the adapter makes.

It follows Zuora's published API reference for these operations:

- ``POST /oauth/token`` (client credentials, form-encoded), bearer tokens that
  expire; a missing or stale token gets 401;
- ``GET /v1/accounts/{accountKey}``, ``GET /v1/invoices/{invoiceKey}`` and
  ``GET /v1/invoices/{invoiceKey}/items``;
- ``POST /v1/invoices/{invoiceKey}/creditmemos`` (a memo from invoice items)
  and ``POST /v1/creditmemos`` (a memo from a product rate plan charge);
- ``GET /v1/creditmemos/{creditMemoKey}``, ``PUT .../post``, ``PUT .../apply``,
  and ``PUT .../unapply``, ``.../reverse``, ``.../cancel`` (``fake_reversal``);
- ``GET /object-query/credit-memos`` with ``filter[]=field.OP:value`` (EQ,
  GE, LE), ``sort[]=field.ASC|DESC``, ``expand[]=account``, ``pageSize`` (at
  most 99) and the ``cursor`` its ``nextPage`` hands out.

Business errors answer 200 with ``"success": false`` and ``reasons``, as the
v1 API does. Idempotency is Zuora's documented behaviour for POST requests:
the answer to the first request with an ``Idempotency-Key`` is kept for 24
hours and replayed; the same key while the first is still running is a 409;
the same key on another URL or method is a 422. Zuora documents only URL and
method mismatches for the 422; this fake also refuses another body, so that a
client reusing a key by mistake finds out. PUT requests are not keyed: the
reference says not to send the header on them.

The tenant is in memory. Tests seed accounts and invoices, read ``memos``,
move ``clock``, and use ``expire_tokens``, ``forget_idempotency_keys`` and
``hold_in_flight``; ``after_create`` lets a test act between the tenant storing
a new memo and the client hearing about it.
"""

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from creditdesk.clock import Clock, system_clock
from creditdesk.integrations.fakes.server import FaultInjector, Faults
from creditdesk.integrations.zuora import fake_reversal
from creditdesk.integrations.zuora import fake_tenant as tenant
from creditdesk.integrations.zuora import fake_wire as wire
from creditdesk.integrations.zuora.fake_tenant import Account, Invoice, Memo, Refusal

KEY_LIFETIME = timedelta(hours=24)
DEMO_SECRET = "demo-secret"  # noqa: S105 - printed for the demo on purpose

_REVERSALS = {
    "unapply": fake_reversal.unapply,
    "reverse": fake_reversal.reverse,
    "cancel": fake_reversal.cancel,
}
_SIGN_IN = "this resource is protected, please sign in first"


@dataclass
class _Keyed:
    """What Zuora keeps for one Idempotency-Key."""

    method: str
    path: str
    body: bytes
    at: datetime
    status: int | None = None
    content: bytes = b""


@dataclass
class ZuoraFake:
    """One tenant: its OAuth client, its data and its idempotency store."""

    client_id: str = "creditdesk"
    client_secret: str = "s3cret"  # noqa: S105 - the fake's own test client
    clock: Clock = system_clock
    token_seconds: int = 3599
    data: tenant.Tenant = field(default_factory=tenant.Tenant)
    faults: Faults = field(default_factory=Faults)
    token_requests: int = 0
    # Called with a new memo's view once it is stored and its key kept, before
    # the answer goes out. It runs on the server's event loop, so while it
    # waits the client waits too: a test can kill the client right there.
    after_create: Callable[[dict[str, Any]], None] | None = None
    _tokens: dict[str, datetime] = field(default_factory=dict)
    _keys: dict[str, _Keyed] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # -- seeding and inspection -------------------------------------------

    def add_account(self, *, number: str, currency: str = "GBP") -> Account:
        with self._lock:
            return self.data.add_account(number=number, currency=currency)

    def add_invoice(
        self, *, account: Account, number: str, items: list[tuple[str, Decimal]]
    ) -> Invoice:
        with self._lock:
            return self.data.add_invoice(account=account, number=number, items=items)

    @property
    def memos(self) -> list[Memo]:
        with self._lock:
            return list(self.data.memos.values())

    def memos_with_key(self, key: str, field_name: str = "IdempotencyKey__c"):
        return [m for m in self.memos if m.custom.get(field_name) == key]

    # -- test controls -----------------------------------------------------

    def expire_tokens(self) -> None:
        """Every token issued so far is refused from now on."""
        with self._lock:
            self._tokens.clear()

    def forget_idempotency_keys(self) -> None:
        """As if 24 hours had passed for every key."""
        with self._lock:
            self._keys.clear()

    def hold_in_flight(self, key: str, method: str, path: str) -> None:
        """As if a request with ``key`` had started and not yet answered."""
        with self._lock:
            self._keys[key] = _Keyed(method, path, b"", self.clock())

    def release(self, key: str) -> None:
        with self._lock:
            self._keys.pop(key, None)

    # -- the ASGI app ----------------------------------------------------------

    def asgi(self) -> FaultInjector:
        """The app, behind a fault injector (``self.faults``)."""
        routes = [
            Route("/oauth/token", self._token, methods=["POST"]),
            Route("/v1/accounts/{key}", self._get(self.data.account_view)),
            Route("/v1/invoices/{key}", self._get(self.data.invoice_view)),
            Route("/v1/invoices/{key}/items", self._get(self.data.items_view)),
            Route(
                "/v1/invoices/{key}/creditmemos",
                self._post(self.data.memo_from_invoice),
                methods=["POST"],
            ),
            Route(
                "/v1/creditmemos",
                self._post(self.data.memo_from_charge),
                methods=["POST"],
            ),
            Route("/v1/creditmemos/{key}", self._get(self.data.memo_view)),
            Route(
                "/v1/creditmemos/{key}/post",
                self._put(self.data.post_memo),
                methods=["PUT"],
            ),
            Route(
                "/v1/creditmemos/{key}/apply",
                self._put(self.data.apply_memo),
                methods=["PUT"],
            ),
            *[
                Route(
                    f"/v1/creditmemos/{{key}}/{name}",
                    self._put(partial(change, self.data)),
                    methods=["PUT"],
                )
                for name, change in _REVERSALS.items()
            ],
            Route("/object-query/credit-memos", self._query, methods=["GET"]),
        ]
        return FaultInjector(Starlette(routes=routes), self.faults)

    async def _token(self, request: Request) -> Response:
        form = wire.parse_form(await request.body())
        with self._lock:
            self.token_requests += 1
            if form.get("grant_type") != "client_credentials":
                return wire.reply(400, {"error": "unsupported_grant_type"})
            if (form.get("client_id"), form.get("client_secret")) != (
                self.client_id,
                self.client_secret,
            ):
                return wire.reply(401, {"error": "invalid_client"})
            token = uuid.uuid4().hex
            self._tokens[token] = self.clock() + timedelta(seconds=self.token_seconds)
        return wire.reply(
            200,
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.token_seconds,
                "scope": "entity.1a2b3c4d platform.write service.billing.read",
                "jti": uuid.uuid4().hex,
            },
        )

    def _signed_in(self, request: Request) -> bool:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        with self._lock:
            expires = self._tokens.get(token)
            return expires is not None and self.clock() < expires

    def _get(self, view: Callable[[str], dict[str, Any]]):
        async def handle(request: Request) -> Response:
            if not self._signed_in(request):
                return wire.refusal(401, Refusal(90000011, _SIGN_IN))
            with self._lock:
                return wire.answer(view, request.path_params["key"])

        return handle

    def _put(self, change: Callable[..., dict[str, Any]]):
        async def handle(request: Request) -> Response:
            if not self._signed_in(request):
                return wire.refusal(401, Refusal(90000011, _SIGN_IN))
            body = await request.body()
            with self._lock:
                return wire.answer(
                    change,
                    request.path_params["key"],
                    wire.parse_json(body),
                    self.clock(),
                )

        return handle

    def _post(self, create: Callable[..., dict[str, Any]]):
        async def handle(request: Request) -> Response:
            if not self._signed_in(request):
                return wire.refusal(401, Refusal(90000011, _SIGN_IN))
            body = await request.body()
            version = request.headers.get("zuora-version", "")

            created: list[dict[str, Any]] = []

            def run() -> Response:
                with self._lock:
                    before = self.data.memos_created
                    response = wire.answer(
                        create,
                        request.path_params,
                        wire.parse_json(body),
                        self.clock(),
                        version,
                    )
                    if self.data.memos_created != before:
                        created.append(json.loads(response.body))
                return response

            key = request.headers.get("idempotency-key")
            if key is None:
                response = run()
            else:
                response = self._once(key, request.method, request.url.path, body, run)
            if created and self.after_create is not None:
                self.after_create(created[0])
            return response

        return handle

    def _once(
        self,
        key: str,
        method: str,
        path: str,
        body: bytes,
        run: Callable[[], Response],
    ) -> Response:
        with self._lock:
            now = self.clock()
            kept = self._keys.get(key)
            if kept is not None and now - kept.at >= KEY_LIFETIME:
                kept = None
            if kept is None:
                kept = self._keys[key] = _Keyed(method, path, body, now)
            elif kept.status is None:
                return wire.refusal(409, wire.IN_FLIGHT)
            elif (kept.method, kept.path, kept.body) != (method, path, body):
                return wire.refusal(422, wire.KEY_REUSED)
            else:
                return Response(
                    kept.content, kept.status, media_type="application/json"
                )
        response = run()
        with self._lock:
            kept.status, kept.content = response.status_code, bytes(response.body)
        return response

    async def _query(self, request: Request) -> Response:
        if not self._signed_in(request):
            return wire.refusal(401, Refusal(90000011, _SIGN_IN))
        params = request.query_params
        with self._lock:
            return wire.answer(
                self.data.query_memos,
                tenant.Query(
                    filters=params.getlist("filter[]"),
                    sort=params.getlist("sort[]"),
                    expand=params.getlist("expand[]"),
                    page_size=params.get("pageSize", "10"),
                    cursor=params.get("cursor"),
                ),
            )


def demo(base_url: str) -> tuple[FaultInjector, list[str]]:
    """A seeded tenant for ``creditdesk fake-billing zuora``, and how to use it."""
    fake = ZuoraFake(client_id="creditdesk-demo", client_secret=DEMO_SECRET)
    gbp = fake.add_account(number="A00000001", currency="GBP")
    eur = fake.add_account(number="A00000002", currency="EUR")
    fake.add_invoice(
        account=gbp,
        number="INV00000001",
        items=[("Broadband March", Decimal("30.00")), ("Router", Decimal("5.00"))],
    )
    fake.add_invoice(
        account=eur, number="INV00000002", items=[("Fibre", Decimal("45.00"))]
    )
    charge = next(iter(fake.data.charges))
    lines = [
        f"Fake Zuora tenant on {base_url} (Ctrl-C stops it; nothing is kept).",
        "Point creditdesk at it:",
        f"  export CREDITDESK_ZUORA_BASE_URL={base_url}",
        f"  export CREDITDESK_ZUORA_CLIENT_ID={fake.client_id}",
        f"  export CREDITDESK_ZUORA_CLIENT_SECRET={fake.client_secret}",
        f"  export CREDITDESK_ZUORA_CHARGE_ID={charge}",
        "Zuora accounts (use as external_account_id): "
        "A00000001 (GBP, invoice INV00000001 for 35.00), "
        "A00000002 (EUR, invoice INV00000002 for 45.00)",
    ]
    return fake.asgi(), lines
