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

    A vendor whose settings are missing cannot be read, which is the caller's
    choice of system to correct, not a failure of the run.
    """
    # Imported here: the sources import this module for VendorMemo.
    from creditdesk.billing.ledger import LedgerMemos  # noqa: PLC0415
    from creditdesk.integrations.salesforce.memos import (  # noqa: PLC0415
        SalesforceMemos,
    )
    from creditdesk.integrations.salesforce.settings import (  # noqa: PLC0415
        SalesforceSettings,
    )
    from creditdesk.integrations.sap.memos import SapMemos  # noqa: PLC0415
    from creditdesk.integrations.sap.settings import SapSettings  # noqa: PLC0415
    from creditdesk.integrations.zuora.memos import ZuoraMemos  # noqa: PLC0415
    from creditdesk.integrations.zuora.settings import (  # noqa: PLC0415
        get_zuora_settings,
    )

    if system == "ledger":
        return LedgerMemos(session_factory)
    if system == "zuora":
        zuora = get_zuora_settings()
        if zuora.is_configured:
            return ZuoraMemos(zuora)
        raise _not_configured(system, "CREDITDESK_ZUORA_")
    if system == "sap":
        sap = SapSettings()
        if sap.is_configured:
            return SapMemos(sap)
        raise _not_configured(system, "CREDITDESK_SAP_")
    if system == "salesforce":
        salesforce = SalesforceSettings()
        if not salesforce.is_configured:
            raise _not_configured(system, "CREDITDESK_SALESFORCE_")
        if not salesforce.multi_currency and salesforce.currency is None:
            raise ValidationFailed.on(
                "system",
                "a single-currency Salesforce org needs "
                "CREDITDESK_SALESFORCE_CURRENCY to be reconciled",
            )
        return SalesforceMemos(salesforce)
    raise ValidationFailed.on(
        "system", f"reconciling {system} is not available yet; ledger is"
    )


def _not_configured(system: str, prefix: str) -> ValidationFailed:
    return ValidationFailed.on(
        "system", f"{system} is not configured here ({prefix}* settings)"
    )
