"""Reversing a voided credit in Salesforce Billing: unallocate, then cancel.

The credit note is read first (``blng__Status__c`` by its Id): one already
Cancelled is done. Otherwise one ``allOrNone`` composite request takes it
back: for each of its allocations still in force, an allocation of
``blng__Type__c`` Unallocation for the same amount on the same credit note
line and invoice line, ``blng__Unallocated__c`` set on the allocation it
undoes, and last the note's status set to Cancelled. All of it commits or
none of it does.

Composite carries no idempotency key. A composite whose answer was lost is
not sent again in the same attempt; the next attempt reads the note, and a
Cancelled one is the sign that it committed. Two attempts at once cannot
both unallocate: the org refuses to unallocate more than is allocated, which
rolls the second composite back, and the note is then read as Cancelled.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog

from creditdesk.billing.adapters import (
    BillingRejectedError,
    BillingTransientError,
    VoidRequest,
    VoidResult,
)
from creditdesk.integrations.salesforce import soql
from creditdesk.integrations.salesforce.client import (
    TRANSIENT_CODES,
    VENDOR,
    SalesforceClient,
    describe_errors,
    error_list,
)

log = structlog.get_logger(__name__)

NOTE = "blng__CreditNote__c"
ALLOCATION = "blng__CreditNoteAllocation__c"
CANCELLED = "Cancelled"
_TAKES_BACK = frozenset({"Draft", "Posted"})
_HALTED = "PROCESSING_HALTED"


@dataclass(frozen=True, slots=True)
class _Allocation:
    id: str
    line: str
    invoice_line: str
    amount: Decimal


class SalesforceReversal:
    """Unallocates and cancels one credit note."""

    def __init__(self, client: SalesforceClient) -> None:
        self._client = client

    def void_credit(self, request: VoidRequest) -> VoidResult:
        """Take the note ``request.external_ref`` back, or say it already is."""
        note_id = request.external_ref
        status = self._status(note_id)
        if status == CANCELLED:
            return _result(note_id)
        if status not in _TAKES_BACK:
            raise BillingRejectedError(
                f"{VENDOR}: credit note {note_id} is {status}; only a Draft or "
                "Posted note can be cancelled"
            )

        allocations = self._open_allocations(note_id)
        parts = self._client.composite(self._subrequests(note_id, allocations))
        failures = _failures(parts)
        if failures:
            self._after_failure(note_id, failures)
        log.info(
            "salesforce.credit_note_cancelled",
            credit_id=request.credit_id,
            note_id=note_id,
            unallocated=len(allocations),
        )
        return _result(note_id)

    def _status(self, note_id: str) -> str:
        query = soql.select("Id, Name, blng__Status__c", NOTE, {"Id": note_id})
        records = self._client.query(query)
        if not records:
            raise BillingRejectedError(f"{VENDOR}: no credit note {note_id}")
        status = records[0].get("blng__Status__c")
        if not isinstance(status, str):
            raise BillingTransientError(
                f"{VENDOR}: credit note {note_id} has no status"
            )
        return status

    def _open_allocations(self, note_id: str) -> list[_Allocation]:
        query = soql.select(
            "Id, blng__CreditNoteLine__c, blng__InvoiceLine__c, blng__Amount__c",
            ALLOCATION,
            {"blng__CreditNoteLine__r.blng__CreditNote__c": note_id},
            tail="AND blng__Type__c != 'Unallocation' AND blng__Unallocated__c = false",
        )
        return [_allocation(record) for record in self._client.query(query)]

    def _subrequests(
        self, note_id: str, allocations: list[_Allocation]
    ) -> list[dict[str, Any]]:
        subrequests: list[dict[str, Any]] = []
        for n, allocation in enumerate(allocations):
            undo = {
                "blng__CreditNoteLine__c": allocation.line,
                "blng__InvoiceLine__c": allocation.invoice_line,
                "blng__Amount__c": allocation.amount,
                "blng__Type__c": "Unallocation",
            }
            subrequests += [
                self._sub("POST", ALLOCATION, None, f"unallocation{n}", undo),
                self._sub(
                    "PATCH",
                    ALLOCATION,
                    allocation.id,
                    f"allocation{n}",
                    {"blng__Unallocated__c": True},
                ),
            ]
        cancel = {"blng__Status__c": CANCELLED}
        subrequests.append(self._sub("PATCH", NOTE, note_id, "note", cancel))
        return subrequests

    def _sub(
        self,
        method: str,
        sobject: str,
        record_id: str | None,
        reference: str,
        body: dict[str, Any],
    ) -> dict[str, Any]:
        return {
            "method": method,
            "url": self._client.sobject_path(sobject, record_id),
            "referenceId": reference,
            "body": body,
        }

    def _after_failure(self, note_id: str, failures: list[dict[str, Any]]) -> None:
        # Another attempt may have cancelled it a moment ago, which is what
        # made this one's unallocation too much.
        if self._status(note_id) == CANCELLED:
            return
        message = (
            f"{VENDOR}: cancelling credit note {note_id} was refused: "
            f"{describe_errors(failures)}"
        )
        if {error.get("errorCode") for error in failures} & TRANSIENT_CODES:
            raise BillingTransientError(message)
        raise BillingRejectedError(message)


def _failures(parts: dict[str, Any]) -> list[dict[str, Any]]:
    failed = [p for p in parts.values() if int(p.get("httpStatusCode", 500)) >= 400]
    errors = [e for part in failed for e in error_list(part.get("body"))]
    meaningful = [e for e in errors if e.get("errorCode") != _HALTED]
    return meaningful or errors or ([{"errorCode": "UNKNOWN"}] if failed else [])


def _allocation(record: dict[str, Any]) -> _Allocation:
    try:
        return _Allocation(
            id=str(record["Id"]),
            line=str(record["blng__CreditNoteLine__c"]),
            invoice_line=str(record["blng__InvoiceLine__c"]),
            amount=Decimal(str(record["blng__Amount__c"])),
        )
    except (KeyError, ArithmeticError) as exc:
        raise BillingTransientError(f"{VENDOR}: malformed allocation record") from exc


def _result(note_id: str) -> VoidResult:
    return VoidResult(external_ref=note_id, raw_status=CANCELLED)
