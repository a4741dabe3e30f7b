"""Reversing a voided credit at SAP: its memo request's items are rejected.

A credit memo request is withdrawn in S/4HANA by giving each of its items a
reason for rejection; once every item has one, SAP bills nothing from it
(the header's ``OverallSDDocumentRejectionSts`` is C). The service's
metadata lets ``SalesDocumentRjcnReason`` be updated on
``A_CreditMemoRequestItem(CreditMemoRequest='..',CreditMemoRequestItem='..')``
with a PATCH that carries the CSRF token and, as OData's optimistic locking
asks, the item's ETag as ``If-Match``.

Exactly once without an idempotency header: the memo request is read first
and a rejected item is left alone, so a repeated void changes nothing. A
PATCH whose answer was lost and that is sent again meets a changed ETag
(412); the item is then read again, and counts as done if it is rejected.
A billed memo request can no longer be rejected: SAP refuses it, and the
refusal (with SAP's message) goes to billing operations.
"""

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import structlog

from creditdesk.billing.adapters import (
    BillingRejectedError,
    BillingTransientError,
    VoidRequest,
    VoidResult,
)
from creditdesk.integrations.http import VendorClient, field_of, json_body
from creditdesk.integrations.sap.odata import (
    CSRF_HEADER,
    ENTITY_SET,
    ITEM_SET,
    VENDOR,
    csrf_required,
    refusal,
)
from creditdesk.integrations.sap.settings import SapSettings

log = structlog.get_logger(__name__)

REJECTED = "C"  # OverallSDDocumentRejectionSts: every item rejected


class SapRejection:
    """Rejects every item of one memo request with the configured reason."""

    def __init__(
        self,
        settings: SapSettings,
        client: VendorClient,
        *,
        token: Callable[[], str],
        fresh_token: Callable[[], str],
    ) -> None:
        self._settings = settings
        self._client = client
        self._token = token
        self._fresh_token = fresh_token

    def void_credit(self, request: VoidRequest) -> VoidResult:
        """Reject the memo request's items, or say they already are."""
        reason = self._settings.rejection_reason
        if not reason:
            raise BillingRejectedError(
                "sap: voiding needs CREDITDESK_SAP_REJECTION_REASON, a reason "
                "for rejection defined in the tenant"
            )
        number = request.external_ref
        header = self._read(number)
        for item in _items(header):
            if not item.get("SalesDocumentRjcnReason"):
                self._reject(number, item, reason)

        header = self._read(number)
        status = header.get("OverallSDDocumentRejectionSts")
        if status != REJECTED:
            raise BillingTransientError(
                f"sap: memo request {number} is still rejection status {status}"
            )
        log.info(
            "sap.memo_request_rejected",
            credit_id=request.credit_id,
            external_ref=number,
            reason=reason,
        )
        return VoidResult(external_ref=number, raw_status="rejected")

    def _read(self, number: str) -> dict[str, Any]:
        path = f"{ENTITY_SET}('{_key(number)}')?$expand=to_Item&$format=json"
        response = self._client.request("GET", path, expect=(200, 404), retry_safe=True)
        if response.status_code == 404:
            raise refusal(response)
        entity = field_of(json_body(response, VENDOR), "d", vendor=VENDOR)
        if not isinstance(entity, dict):
            raise BillingTransientError("sap: malformed response: d")
        return entity

    def _reject(self, number: str, item: dict[str, Any], reason: str) -> None:
        position = str(field_of(item, "CreditMemoRequestItem", vendor=VENDOR))
        path = (
            f"{ITEM_SET}(CreditMemoRequest='{_key(number)}',"
            f"CreditMemoRequestItem='{_key(position)}')"
        )
        etag = _etag(item)
        token = self._token()
        # Twice at most: once more after a stale CSRF token or a changed ETag.
        for _ in range(2):
            response = self._patch(path, reason, etag, token)
            if csrf_required(response):
                token = self._fresh_token()
                continue
            if response.status_code == 412:
                current = self._read_item(path)
                if current.get("SalesDocumentRjcnReason"):
                    return
                etag = _etag(current)
                continue
            if response.status_code >= 400:
                raise refusal(response)
            return
        raise BillingTransientError(f"sap: item {position} of {number} kept changing")

    def _patch(self, path: str, reason: str, etag: str, token: str) -> httpx.Response:
        # Setting one property to one value is idempotent, and If-Match makes
        # a resend after success a 412 rather than a second change.
        return self._client.request(
            "PATCH",
            path,
            expect=(204, 400, 403, 404, 412, 428),
            retry_safe=True,
            json={"SalesDocumentRjcnReason": reason},
            headers={CSRF_HEADER: token, "If-Match": etag},
        )

    def _read_item(self, path: str) -> dict[str, Any]:
        response = self._client.request(
            "GET", f"{path}?$format=json", expect=(200,), retry_safe=True
        )
        entity = field_of(json_body(response, VENDOR), "d", vendor=VENDOR)
        if not isinstance(entity, dict):
            raise BillingTransientError("sap: malformed response: d")
        return entity


def _items(header: dict[str, Any]) -> list[dict[str, Any]]:
    items = field_of(header, "to_Item", "results", vendor=VENDOR)
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise BillingTransientError("sap: malformed response: to_Item")
    return items


def _etag(item: dict[str, Any]) -> str:
    etag = field_of(item, "__metadata", "etag", vendor=VENDOR)
    if not isinstance(etag, str) or not etag:
        raise BillingTransientError("sap: an item without an ETag")
    return etag


def _key(value: str) -> str:
    """A key value inside OData's quotes: a quote doubled, the rest escaped."""
    return quote(value.replace("'", "''"), safe="")
