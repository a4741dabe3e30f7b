"""Reversing a voided credit's memo in Zuora, once.

Zuora defines two ways to take a credit memo back: a Draft memo is cancelled
(``PUT /v1/creditmemos/{key}/cancel``); a Posted one is reversed
(``PUT .../reverse``), which creates a debit memo for the same amount and
applies the credit memo to it. A memo still applied to an invoice cannot be
reversed, so what we applied is unapplied first (``PUT .../unapply``).

All three are PUTs, and Zuora's reference says not to send an
Idempotency-Key on a PUT (it honours the header on POST and PATCH only). So
each step reads the memo first and does only what is still to be done: a
memo already ``reversed`` or Canceled is answered as done, which makes a
repeated void, or a retry after a lost answer, change nothing.
"""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import structlog

from creditdesk.billing.adapters import BillingRejectedError, VoidRequest, VoidResult
from creditdesk.clock import Clock
from creditdesk.integrations.http import VendorClient, field_of
from creditdesk.integrations.zuora.settings import ZuoraSettings

log = structlog.get_logger(__name__)

VENDOR = "zuora"
REVERSED = "Reversed"
CANCELED = "Canceled"

Call = Callable[..., dict[str, Any]]


class ZuoraReversal:
    """Cancels or unapplies and reverses one credit memo."""

    def __init__(self, call: Call, *, clock: Clock) -> None:
        self._call = call
        self._clock = clock

    def void_credit(self, request: VoidRequest) -> VoidResult:
        """Take the memo ``request.external_ref`` back, or say it already is."""
        memo = self._read(request.external_ref)
        memo_id = str(field_of(memo, "id", vendor=VENDOR))
        if _done(memo):
            return _result(memo)

        if memo.get("status") == "Draft":
            memo = self._put_then_read(memo_id, "cancel", None)
        elif memo.get("status") == "Posted":
            memo = self._unapply(memo_id, memo)
            body = {"applyEffectiveDate": self._today(), "memoDate": self._today()}
            memo = self._put_then_read(memo_id, "reverse", body)
        else:
            raise BillingRejectedError(
                f"zuora: credit memo {memo.get('number')} is {memo.get('status')}; "
                "only a Draft or Posted memo can be taken back"
            )
        log.info(
            "zuora.memo_reversed",
            key=request.idempotency_key,
            memo=memo.get("number"),
            credit_id=request.credit_id,
        )
        return _result(memo)

    def _unapply(self, memo_id: str, memo: dict[str, Any]) -> dict[str, Any]:
        applied = Decimal(field_of(memo, "appliedAmount", vendor=VENDOR))
        if applied == 0:
            return memo
        invoice_id = memo.get("referredInvoiceId")
        if not invoice_id:
            # Zuora applied a standalone memo by its own rules; which invoices
            # it went to is not ours to guess.
            raise BillingRejectedError(
                f"zuora: credit memo {memo.get('number')} has {applied} applied to "
                "invoices creditdesk did not choose; unapply it in Zuora first"
            )
        body = {
            "effectiveDate": self._today(),
            "invoices": [{"invoiceId": invoice_id, "amount": applied}],
        }
        return self._put_then_read(memo_id, "unapply", body)

    def _put_then_read(
        self, memo_id: str, action: str, body: dict[str, Any] | None
    ) -> dict[str, Any]:
        try:
            self._call("PUT", f"/v1/creditmemos/{memo_id}/{action}", json=body)
        except BillingRejectedError:
            # Another worker, or a person in Zuora, may have done it a moment
            # ago; if the memo now is as we wanted, the refusal was about
            # nothing.
            memo = self._read(memo_id)
            if _reached(memo, action):
                return memo
            raise
        return self._read(memo_id)

    def _read(self, key: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/creditmemos/{key}")

    def _today(self) -> str:
        return self._clock().date().isoformat()


def _done(memo: dict[str, Any]) -> bool:
    return memo.get("status") == CANCELED or memo.get("reversed") is True


def _reached(memo: dict[str, Any], action: str) -> bool:
    if action == "unapply":
        return _done(memo) or Decimal(str(memo.get("appliedAmount", "1"))) == 0
    return _done(memo)


def _result(memo: dict[str, Any]) -> VoidResult:
    status = CANCELED if memo.get("status") == CANCELED else REVERSED
    if not _done(memo):
        raise BillingRejectedError(
            f"zuora: credit memo {memo.get('number')} is still {memo.get('status')}"
        )
    return VoidResult(
        external_ref=str(field_of(memo, "number", vendor=VENDOR)), raw_status=status
    )


def reversal_for(
    client: VendorClient, settings: ZuoraSettings, *, clock: Clock, call: Call
) -> ZuoraReversal:
    """A reversal over the adapter's call path (``call`` bound to the client)."""

    def bound(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return call(client, settings, method, path, **kwargs)

    return ZuoraReversal(bound, clock=clock)
