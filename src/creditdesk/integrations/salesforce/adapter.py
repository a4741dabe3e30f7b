"""Salesforce Billing: one posted credit note per credit, exactly once.

Calls (Salesforce REST API, objects of the Salesforce Billing package):

1. against an invoice, ``GET .../query`` for the first line of the
   ``blng__Invoice__c`` named by ``invoice_ref`` on the same account;
2. ``POST .../composite`` (allOrNone) creating the ``blng__CreditNote__c``
   (Draft, our idempotency key in an external-ID field), its
   ``blng__CreditNoteLine__c`` and, against an invoice, the
   ``blng__CreditNoteAllocation__c`` to that invoice line; nothing is left
   behind when any part fails;
3. ``PATCH .../sobjects/blng__CreditNote__c/{id}`` to status Posted.

Composite has no idempotency header, so the key lives on the credit note in a
unique field: a second insert fails with ``DUPLICATE_VALUE`` and the note is
then looked up by the key and finished. Posting is the last step, so a note
found still in Draft is one whose post did not finish, and only a posted note
counts as found. Voiding unallocates and cancels the note (``reversal``).
"""

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

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
from creditdesk.integrations.salesforce import soql
from creditdesk.integrations.salesforce.client import (
    TRANSIENT_CODES,
    VENDOR,
    SalesforceClient,
    describe_errors,
    error_list,
)
from creditdesk.integrations.salesforce.reversal import SalesforceReversal
from creditdesk.integrations.salesforce.settings import SalesforceSettings
from creditdesk.money import format_amount

log = structlog.get_logger(__name__)

NOTE = "blng__CreditNote__c"
LINE = "blng__CreditNoteLine__c"
ALLOCATION = "blng__CreditNoteAllocation__c"
INVOICE_LINE = "blng__InvoiceLine__c"
DRAFT = "Draft"
POSTED = "Posted"

_DUPLICATE = "DUPLICATE_VALUE"
# What Salesforce says of the parts it did not run after another one failed.
_HALTED = "PROCESSING_HALTED"


@dataclass(frozen=True, slots=True)
class _Note:
    id: str
    status: str
    allocated: bool


class SalesforceAdapter:
    """Raises, allocates and posts Salesforce Billing credit notes."""

    def __init__(
        self, client: SalesforceClient, *, settings: SalesforceSettings, clock: Clock
    ) -> None:
        self._client = client
        self._settings = settings
        self._clock = clock

    @classmethod
    def from_settings(
        cls, settings: SalesforceSettings, *, clock: Clock
    ) -> "SalesforceAdapter":
        """An adapter sharing one signed-in client with all others like it."""
        return cls(shared_client(settings), settings=settings, clock=clock)

    def post_credit(self, request: PostingRequest) -> PostingResult:
        """Create, allocate and post the note, or finish the one this key made."""
        account_id = _account_id(request)
        invoice_line = None
        if request.invoice_ref:
            invoice_line = self._invoice_line(request.invoice_ref, account_id)

        note = self._create(request, account_id, invoice_line)
        if note.status == DRAFT:
            self._client.update(NOTE, note.id, {"blng__Status__c": POSTED})
        elif note.status != POSTED:
            raise BillingRejectedError(
                f"{VENDOR}: credit note {note.id} for {request.idempotency_key} "
                f"is {note.status}, not Draft or Posted"
            )
        log.info(
            "salesforce.credit_note_posted",
            credit_id=request.credit_id,
            note_id=note.id,
            allocated=note.allocated,
        )
        return _result(note.id, allocated=note.allocated)

    def void_credit(self, request: VoidRequest) -> VoidResult:
        """Unallocate and cancel the credit note, once."""
        return SalesforceReversal(self._client).void_credit(request)

    def find_by_idempotency_key(self, key: str) -> PostingResult | None:
        """The posted note carrying ``key``; a Draft one is not finished yet."""
        note = self._note_by_key(key)
        if note is None or note.status != POSTED:
            return None
        return _result(note.id, allocated=note.allocated)

    def _invoice_line(self, invoice_ref: str, account_id: str) -> str:
        query = soql.select(
            "Id",
            INVOICE_LINE,
            {
                "blng__Invoice__r.Name": invoice_ref,
                "blng__Invoice__r.blng__Account__c": account_id,
            },
            tail="ORDER BY Name LIMIT 1",
        )
        records = self._client.query(query)
        if not records:
            raise BillingRejectedError(
                f"{VENDOR}: no invoice {invoice_ref} with lines on account {account_id}"
            )
        return _record_id(records[0])

    def _create(
        self, request: PostingRequest, account_id: str, invoice_line: str | None
    ) -> _Note:
        subrequests = self._subrequests(request, account_id, invoice_line)
        parts = self._client.composite(subrequests)
        note = parts.get("note")
        if not isinstance(note, dict):
            raise BillingTransientError(f"{VENDOR}: composite answer has no note")
        if note.get("httpStatusCode") == 201:
            body = note.get("body")
            note_id = body.get("id") if isinstance(body, dict) else None
            if not isinstance(note_id, str):
                raise BillingTransientError(f"{VENDOR}: composite note has no id")
            return _Note(note_id, DRAFT, allocated=invoice_line is not None)
        return self._after_failure(request.idempotency_key, parts)

    def _after_failure(self, key: str, parts: dict[str, Any]) -> _Note:
        errors = _failures(parts)
        codes = {error.get("errorCode") for error in errors}
        note_codes = {e.get("errorCode") for e in error_list(parts["note"].get("body"))}
        if _DUPLICATE in note_codes:
            # An earlier attempt committed although its answer was lost.
            existing = self._note_by_key(key)
            if existing is not None:
                log.info("salesforce.credit_note_found", key=key, note_id=existing.id)
                return existing
        message = f"{VENDOR}: the credit note was refused: {describe_errors(errors)}"
        if codes & TRANSIENT_CODES:
            raise BillingTransientError(message)
        raise BillingRejectedError(message)

    def _subrequests(
        self, request: PostingRequest, account_id: str, invoice_line: str | None
    ) -> list[dict[str, Any]]:
        amount = Decimal(format_amount(request.amount_minor, request.currency))
        note: dict[str, Any] = {
            "blng__Account__c": account_id,
            "blng__CreditNoteDate__c": self._clock().date().isoformat(),
            "blng__Status__c": DRAFT,
            "blng__Notes__c": request.memo_text,
            self._settings.key_field: request.idempotency_key,
        }
        if self._settings.multi_currency:
            note["CurrencyIsoCode"] = request.currency
        line = {"blng__CreditNote__c": "@{note.id}", "blng__Subtotal__c": amount}
        subrequests = [
            self._insert(NOTE, "note", note),
            self._insert(LINE, "line", line),
        ]
        if invoice_line is not None:
            allocation = {
                "blng__CreditNoteLine__c": "@{line.id}",
                "blng__InvoiceLine__c": invoice_line,
                "blng__Amount__c": amount,
            }
            subrequests.append(self._insert(ALLOCATION, "allocation", allocation))
        return subrequests

    def _insert(self, sobject: str, reference: str, body: dict[str, Any]) -> dict:
        return {
            "method": "POST",
            "url": self._client.sobject_path(sobject),
            "referenceId": reference,
            "body": body,
        }

    def _note_by_key(self, key: str) -> _Note | None:
        query = soql.select(
            "Id, Name, blng__Status__c", NOTE, {self._settings.key_field: key}
        )
        records = self._client.query(query)
        if not records:
            return None
        note_id = _record_id(records[0])
        status = records[0].get("blng__Status__c")
        if not isinstance(status, str):
            raise BillingTransientError(
                f"{VENDOR}: credit note {note_id} has no status"
            )
        return _Note(note_id, status, allocated=self._allocated(note_id))

    def _allocated(self, note_id: str) -> bool:
        query = soql.select(
            "Id",
            ALLOCATION,
            {"blng__CreditNoteLine__r.blng__CreditNote__c": note_id},
            tail="LIMIT 1",
        )
        return bool(self._client.query(query))


@lru_cache(maxsize=8)
def shared_client(settings: SalesforceSettings) -> SalesforceClient:
    # One client per org keeps its token: a login per posting would spend the
    # org's login allowance and double every call.
    return SalesforceClient.connect(settings)


def _account_id(request: PostingRequest) -> str:
    if not request.external_account_id:
        raise BillingRejectedError(
            f"{VENDOR}: account {request.account_number} has no Salesforce account id"
        )
    return request.external_account_id


def _failures(parts: dict[str, Any]) -> list[dict[str, Any]]:
    errors = [e for part in parts.values() for e in error_list(part.get("body"))]
    # The parts that only say they were not run add nothing for a reader.
    meaningful = [e for e in errors if e.get("errorCode") != _HALTED]
    return meaningful or errors


def _record_id(record: dict[str, Any]) -> str:
    record_id = record.get("Id")
    if not isinstance(record_id, str) or not record_id:
        raise BillingTransientError(f"{VENDOR}: a record without an Id")
    return record_id


def _result(note_id: str, *, allocated: bool) -> PostingResult:
    return PostingResult(external_ref=note_id, applied=allocated, raw_status=POSTED)
