"""What a billing system gives reconciliation: its memos, page by page."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from creditdesk.errors import ValidationFailed


@dataclass(frozen=True, slots=True)
class VendorMemo:
    """A credit memo as the billing system keeps it.

    ``account_ref`` is the system's name for the account: our account number
    for the built-in ledger, the external account id for a vendor.
    """

    external_ref: str
    idempotency_key: str | None
    account_ref: str | None
    amount_minor: int
    currency: str
    created_on: date


class MemoSource(Protocol):
    def memos(self, start: date, end: date) -> Iterator[list[VendorMemo]]:
        """The memos created from ``start`` to ``end`` (both inclusive), in
        pages, oldest first."""
        ...


def source_for(system: str, session_factory: Any) -> MemoSource:
    """Where reconciliation reads ``system``'s memos from.

    TODO(reconciliation-vendors): only the built-in ledger lists its memos so
    far; each vendor adapter needs a paged list of its credit memos (Zuora's
    credit memo query, SAP's A_CreditMemoRequest by date, a SOQL query on
    blng__CreditNote__c) to be reconciled.
    """
    from creditdesk.billing.ledger import LedgerMemos  # noqa: PLC0415 - cycle

    if system == "ledger":
        return LedgerMemos(session_factory)
    raise ValidationFailed.on(
        "system", f"reconciling {system} is not available yet; ledger is"
    )
