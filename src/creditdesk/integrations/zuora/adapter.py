"""The Zuora billing adapter: one credit becomes one posted credit memo.

A credit that names an invoice becomes a memo from that invoice's items
(``POST /v1/invoices/{invoiceKey}/creditmemos``), is posted and then applied
to the invoice. Any other credit becomes a memo from the goodwill product rate
plan charge (``POST /v1/creditmemos``) and is posted; Zuora applies it later.

Exactly once: the creating POST carries our key as ``Idempotency-Key``, which
Zuora honours for 24 hours, and as a custom field on the memo, which outlives
that window and is what ``find_by_idempotency_key`` queries. Posting and
applying are PUTs (Zuora takes no key on them), so each reads the memo first
and does only what is still to be done. Voiding is ``reversal``'s.
"""

import threading
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import structlog

from creditdesk.billing.adapters import (
    BillingRejectedError,
    BillingTransientError,
    PostingRequest,
    PostingResult,
    VoidRequest,
    VoidResult,
)
from creditdesk.clock import Clock
from creditdesk.integrations.auth import ClientCredentials
from creditdesk.integrations.http import (
    RetryPolicy,
    VendorClient,
    field_of,
    json_body,
)
from creditdesk.integrations.zuora.amounts import (
    as_decimal,
    credit_lines,
    minor_units,
)
from creditdesk.integrations.zuora.reversal import reversal_for
from creditdesk.integrations.zuora.settings import ZuoraSettings, get_zuora_settings

log = structlog.get_logger(__name__)

VENDOR = "zuora"
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a secret

# Zuora's error codes end in a category; these mean "try again later".
_TRANSIENT_CATEGORIES = frozenset({"50", "60", "61", "70"})
_COMMENT_CHARS = 255


class KeyReusedError(BillingRejectedError):
    """Zuora refused an Idempotency-Key already used for another request."""


def build_client(
    settings: ZuoraSettings,
    *,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> VendorClient:
    """A client for the tenant in ``settings``, signing in with its OAuth client."""
    return VendorClient(
        vendor=VENDOR,
        base_url=settings.base_url,
        timeout_seconds=settings.timeout_seconds,
        retry=RetryPolicy(attempts=settings.retry_attempts),
        auth=ClientCredentials(
            TOKEN_PATH,
            settings.client_id,
            settings.client_secret,
            monotonic=monotonic,
        ),
        sleep=sleep,
    )


_shared: dict[tuple[str, ...], VendorClient] = {}
_shared_lock = threading.Lock()


def shared_client(settings: ZuoraSettings) -> VendorClient:
    """One client per tenant and process, so its token outlives one posting."""
    identity = (
        settings.base_url,
        settings.client_id,
        settings.client_secret.get_secret_value(),
        str(settings.timeout_seconds),
        str(settings.retry_attempts),
    )
    with _shared_lock:
        client = _shared.get(identity)
        if client is None:
            client = _shared[identity] = build_client(settings)
        return client


class ZuoraAdapter:
    """Raises, posts and (for invoices) applies credit memos in Zuora."""

    def __init__(
        self, settings: ZuoraSettings, *, clock: Clock, client: VendorClient
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._client = client

    def void_credit(self, request: VoidRequest) -> VoidResult:
        """Cancel (Draft) or unapply and reverse (Posted) the memo, once."""
        reversal = reversal_for(
            self._client, self._settings, clock=self._clock, call=call
        )
        return reversal.void_credit(request)

    def post_credit(self, request: PostingRequest) -> PostingResult:
        """Raise the memo (or get back the one this key raised) and settle it."""
        account = self._account(request)
        try:
            if request.invoice_ref:
                created = self._memo_from_invoice(request, account, request.invoice_ref)
            else:
                created = self._memo_from_charge(request, account)
        except KeyReusedError as error:
            created = self._adopt(request, error)
        memo_id = str(field_of(created, "id", vendor=VENDOR))
        log.info(
            "zuora.memo_created",
            key=request.idempotency_key,
            memo=created.get("number"),
            credit_id=request.credit_id,
        )
        # The create answers with the memo itself: no need to read it back.
        return self._settle(memo_id, created)

    def find_by_idempotency_key(self, key: str) -> PostingResult | None:
        """The memo carrying ``key`` in its custom field, settled, if any."""
        found = self._memo_by_key(key)
        if found is None:
            return None
        return self._settle(str(field_of(found, "id", vendor=VENDOR)))

    # -- creating ---------------------------------------------------------

    def _account(self, request: PostingRequest) -> dict[str, Any]:
        key = request.external_account_id
        if not key:
            raise BillingRejectedError(
                f"account {request.account_number} has no Zuora account id "
                "(external_account_id)"
            )
        body = self._call("GET", f"/v1/accounts/{_segment(key)}")
        currency = field_of(body, "billingAndPayment", "currency", vendor=VENDOR)
        if currency != request.currency:
            raise BillingRejectedError(
                f"zuora: account {key} bills in {currency}, not {request.currency}"
            )
        return body

    def _memo_from_invoice(
        self, request: PostingRequest, account: dict[str, Any], invoice_ref: str
    ) -> dict[str, Any]:
        invoice_path = f"/v1/invoices/{_segment(invoice_ref)}"
        invoice = self._call("GET", invoice_path)
        account_id = field_of(account, "basicInfo", "id", vendor=VENDOR)
        if field_of(invoice, "accountId", vendor=VENDOR) != account_id:
            raise BillingRejectedError(
                f"zuora: invoice {invoice_ref} belongs to another account than "
                f"{request.external_account_id}"
            )
        listing = self._call("GET", f"{invoice_path}/items")
        items = field_of(listing, "invoiceItems", vendor=VENDOR)
        body = {
            **self._memo_fields(request),
            "items": credit_lines(items, request, invoice_ref),
        }
        return self._create(f"{invoice_path}/creditmemos", body, request)

    def _memo_from_charge(
        self, request: PostingRequest, account: dict[str, Any]
    ) -> dict[str, Any]:
        if not self._settings.charge_id:
            raise BillingRejectedError(
                "zuora: a credit without an invoice needs CREDITDESK_ZUORA_CHARGE_ID"
            )
        body = {
            "accountId": field_of(account, "basicInfo", "id", vendor=VENDOR),
            **self._memo_fields(request),
            "charges": [
                {
                    "chargeId": self._settings.charge_id,
                    "amount": as_decimal(request.amount_minor, request.currency),
                }
            ],
        }
        return self._create("/v1/creditmemos", body, request)

    def _memo_fields(self, request: PostingRequest) -> dict[str, Any]:
        return {
            "effectiveDate": self._clock().date().isoformat(),
            "reasonCode": self._settings.reason_code(request.reason),
            "comment": request.memo_text[:_COMMENT_CHARS],
            self._settings.idempotency_field: request.idempotency_key,
        }

    def _create(
        self, path: str, body: dict[str, Any], request: PostingRequest
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": request.idempotency_key}
        return self._call("POST", path, json=body, headers=headers)

    def _adopt(self, request: PostingRequest, error: KeyReusedError) -> dict[str, Any]:
        """After a 422, the memo the key's first request raised, if it is ours.

        A retry on a later day sends another effectiveDate, so Zuora sees
        another body under the same key; the memo it raised then is this
        credit's when it carries the key and the same amount. Anything else is
        a key reused by mistake, and stays refused.
        """
        found = self._memo_by_key(request.idempotency_key)
        if found is not None:
            memo_id = field_of(found, "id", vendor=VENDOR)
            memo = self._call("GET", f"/v1/creditmemos/{memo_id}")
            amount = minor_units(
                field_of(memo, "amount", vendor=VENDOR), request.currency
            )
            if amount == request.amount_minor:
                return memo
        raise error

    def _memo_by_key(self, key: str) -> dict[str, Any] | None:
        field = self._settings.idempotency_field
        body = self._call(
            "GET",
            "/object-query/credit-memos",
            params={"filter[]": f"{field}.EQ:{key}"},
        )
        rows = field_of(body, "data", vendor=VENDOR)
        if not rows:
            return None
        if len(rows) > 1:
            # Should never happen; the oldest is kept, the rest need a person.
            log.warning("zuora.duplicate_memos", key=key, count=len(rows))
        return rows[0]

    # -- settling ---------------------------------------------------------

    def _settle(
        self, memo_id: str, memo: dict[str, Any] | None = None
    ) -> PostingResult:
        """Post and apply the memo as far as it still needs. ``memo`` is its
        latest known state; a stale one (an Idempotency-Key replay) is safe,
        as a refused PUT reads the memo again."""
        if memo is None or "status" not in memo:
            memo = self._call("GET", f"/v1/creditmemos/{memo_id}")
        if memo.get("status") == "Draft":
            memo = self._put_then_read(memo_id, "post", None)
        if memo.get("status") != "Posted":
            raise BillingRejectedError(
                f"zuora: credit memo {memo.get('number')} is {memo.get('status')}"
            )
        invoice_id = memo.get("referredInvoiceId")
        if invoice_id and _unapplied(memo) > 0:
            apply = {
                "effectiveDate": self._clock().date().isoformat(),
                "invoices": [{"invoiceId": invoice_id, "amount": _unapplied(memo)}],
            }
            memo = self._put_then_read(memo_id, "apply", apply)
        applied = bool(invoice_id) and _unapplied(memo) == 0
        return PostingResult(
            external_ref=str(field_of(memo, "number", vendor=VENDOR)),
            applied=applied,
            raw_status=str(memo["status"]),
        )

    def _put_then_read(
        self, memo_id: str, action: str, body: dict[str, Any] | None
    ) -> dict[str, Any]:
        try:
            return self._call("PUT", f"/v1/creditmemos/{memo_id}/{action}", json=body)
        except BillingRejectedError:
            # Another worker may have posted or applied it a moment ago; if the
            # memo now is what we wanted, that refusal was about nothing.
            memo = self._call("GET", f"/v1/creditmemos/{memo_id}")
            done = memo.get("status") == "Posted" and (
                action == "post" or _unapplied(memo) == 0
            )
            if done:
                return memo
            raise

    # -- the call path ------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        return call(
            self._client,
            self._settings,
            method,
            path,
            json=json,
            params=params,
            headers=headers,
        )


def call(
    client: VendorClient,
    settings: ZuoraSettings,
    method: str,
    path: str,
    *,
    json: Any = None,
    params: Mapping[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One Zuora call: its answer, or Zuora's refusal as our error."""
    response = client.request(
        method,
        path,
        expect=(200, 201, 409, 422),
        # GETs read, the POSTs carry a key and the PUTs check first.
        retry_safe=True,
        json=json,
        params=params,
        headers={"Zuora-Version": settings.api_version, **(headers or {})},
    )
    body = json_body(response, VENDOR)
    if not isinstance(body, dict):
        raise BillingTransientError(f"zuora: malformed response to {method} {path}")
    if response.status_code == 409:
        raise BillingTransientError(
            f"zuora: 409 on {method} {path}: a request with the same "
            f"Idempotency-Key is still in progress: {_reasons(body)}"
        )
    if response.status_code == 422:
        raise KeyReusedError(
            f"zuora: 422 on {method} {path}: the Idempotency-Key was already "
            f"used for a different request: {_reasons(body)}"
        )
    if body.get("success") is False:
        _raise_refusal(method, path, body)
    return body


def _raise_refusal(method: str, path: str, body: dict[str, Any]) -> None:
    reasons = body.get("reasons") or []
    codes = [str(r.get("code", "")) for r in reasons if isinstance(r, dict)]
    text = f"zuora: refused {method} {path}: {_reasons(body)}"
    if codes and all(code[-2:] in _TRANSIENT_CATEGORIES for code in codes):
        raise BillingTransientError(text)
    raise BillingRejectedError(text)


def _reasons(body: dict[str, Any]) -> str:
    reasons = body.get("reasons") or []
    messages = [
        f"{r.get('message')} ({r.get('code')})" for r in reasons if isinstance(r, dict)
    ]
    return "; ".join(messages) or "no reason given"


def _unapplied(memo: dict[str, Any]) -> Decimal:
    value = field_of(memo, "unappliedAmount", vendor=VENDOR)
    return Decimal(value)


def _segment(key: str) -> str:
    """An account or invoice key as one path segment, whatever it contains."""
    return quote(key, safe="")


def zuora_adapter(
    *, clock: Clock, settings: ZuoraSettings | None = None
) -> ZuoraAdapter | None:
    """The adapter for the configured tenant, or None when there is none."""
    settings = settings or get_zuora_settings()
    if not settings.is_configured:
        return None
    return ZuoraAdapter(settings, clock=clock, client=shared_client(settings))
