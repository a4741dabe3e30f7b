"""Taking a credit note back in the fake org: unallocating and cancelling.

Salesforce Billing records an unallocation as a second
``blng__CreditNoteAllocation__c`` of ``blng__Type__c`` Unallocation on the
same credit note line and invoice line, and marks the allocation it undoes
with ``blng__Unallocated__c``; the line's balance counts it back. The fake
keeps the rules that keep that sum right, and the one we read into
``blng__Status__c``: a note still allocated to an invoice cannot be
Cancelled (unallocate it first), and an amount unallocated beyond what is
allocated is refused.
"""

from decimal import Decimal
from typing import Any

from creditdesk.integrations.salesforce.fake_org import (
    ALLOCATION,
    LINE,
    NOTE,
    Org,
    SalesforceError,
)

ALLOCATION_TYPES = frozenset({"Allocation", "Unallocation"})
CANCELLED = "Cancelled"
Staged = dict[str, dict[str, dict[str, Any]]]


def rows(org: Org, staged: Staged, sobject: str) -> dict[str, dict[str, Any]]:
    """The table as it would be with ``staged`` committed."""
    return {**org.table(sobject), **staged.get(sobject, {})}


def open_amount(org: Org, staged: Staged, line: str, invoice_line: str) -> Decimal:
    """What is allocated from ``line`` to ``invoice_line`` and not taken back."""
    total = Decimal(0)
    for row in rows(org, staged, ALLOCATION).values():
        if (row["blng__CreditNoteLine__c"], row["blng__InvoiceLine__c"]) != (
            line,
            invoice_line,
        ):
            continue
        sign = -1 if row.get("blng__Type__c") == "Unallocation" else 1
        total += sign * Decimal(row["blng__Amount__c"])
    return total


def check_new_allocation(org: Org, row: dict[str, Any], staged: Staged) -> None:
    """An Unallocation must not take back more than is allocated."""
    kind = row.get("blng__Type__c")
    if kind is None:
        return
    if kind not in ALLOCATION_TYPES:
        raise SalesforceError(
            400,
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"bad value for restricted picklist field: {kind}",
            ["blng__Type__c"],
        )
    if kind != "Unallocation":
        return
    allocated = open_amount(
        org, staged, row["blng__CreditNoteLine__c"], row["blng__InvoiceLine__c"]
    )
    if Decimal(row["blng__Amount__c"]) > allocated:
        raise SalesforceError(
            400,
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "The unallocated amount can't exceed the allocated amount.",
            ["blng__Amount__c"],
        )


def check_status_change(org: Org, note_id: str, status: str, staged: Staged) -> None:
    """A note goes to Cancelled only once nothing of it is allocated."""
    if status != CANCELLED:
        return
    lines = [
        line_id
        for line_id, line in rows(org, staged, LINE).items()
        if line["blng__CreditNote__c"] == note_id
    ]
    for row in rows(org, staged, ALLOCATION).values():
        if row["blng__CreditNoteLine__c"] not in lines:
            continue
        if (
            open_amount(
                org, staged, row["blng__CreditNoteLine__c"], row["blng__InvoiceLine__c"]
            )
            > 0
        ):
            raise SalesforceError(
                400,
                "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                "A credit note that is allocated can't be cancelled. Unallocate "
                "it first.",
                ["blng__Status__c"],
            )


def open_allocations(org: Org, note_id: str) -> list[dict[str, Any]]:
    """The note's allocations of type Allocation not yet marked unallocated."""
    lines = {
        line_id
        for line_id, line in org.table(LINE).items()
        if line["blng__CreditNote__c"] == note_id
    }
    return [
        row
        for row in org.table(ALLOCATION).values()
        if row["blng__CreditNoteLine__c"] in lines
        and row.get("blng__Type__c") != "Unallocation"
        and not row.get("blng__Unallocated__c", False)
    ]


UPDATABLE = {
    NOTE: {"blng__Status__c"},
    ALLOCATION: {"blng__Unallocated__c"},
}
