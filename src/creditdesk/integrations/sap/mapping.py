"""Our posting request as an A_CreditMemoRequest, and SAP's answers as ours.

Field names are those of the entity types A_CreditMemoRequest and
A_CreditMemoRequestItem in API_CREDIT_MEMO_REQUEST_SRV. Edm.Decimal values
travel as JSON strings in OData V2 ("12.50"), so amounts are formatted from
minor units and never pass through a float.

Where our values go:

- ``PurchaseOrderByCustomer`` (35 characters, filterable) carries the
  configured prefix and the outbox key, and is what a lookup filters on;
- the item's ``CreditMemoRequestItemText`` (40 characters) carries the
  credit number and what the credit is for, so SAP users can find it;
- ``ReferenceSDDocument`` is the invoice the credit is against, when given.
"""

from decimal import Decimal, InvalidOperation
from typing import Any

from creditdesk.billing.adapters import (
    BillingRejectedError,
    BillingTransientError,
    PostingRequest,
    PostingResult,
)
from creditdesk.integrations.sap.settings import SapSettings
from creditdesk.money import MoneyError, format_amount, parse_amount

KEY_CHARS = 35  # PurchaseOrderByCustomer
SOLD_TO_CHARS = 10  # SoldToParty
REFERENCE_CHARS = 10  # ReferenceSDDocument
ITEM_TEXT_CHARS = 40  # CreditMemoRequestItemText


def customer_reference(settings: SapSettings, key: str) -> str:
    """What PurchaseOrderByCustomer holds for the outbox key ``key``."""
    reference = settings.key_prefix + key
    if len(reference) > KEY_CHARS:
        raise BillingRejectedError(
            f"SAP: the reference {reference!r} is longer than the "
            f"{KEY_CHARS} characters PurchaseOrderByCustomer holds"
        )
    return reference


def memo_request(settings: SapSettings, request: PostingRequest) -> dict[str, Any]:
    """The deep-insert body of one credit memo request with one item."""
    header: dict[str, Any] = {
        "CreditMemoRequestType": settings.document_type,
        "SalesOrganization": settings.sales_organization,
        "DistributionChannel": settings.distribution_channel,
        "OrganizationDivision": settings.division,
        "SoldToParty": _sold_to(request),
        "SDDocumentReason": _order_reason(settings, request.reason),
        "PurchaseOrderByCustomer": customer_reference(
            settings, request.idempotency_key
        ),
        "TransactionCurrency": request.currency,
        "to_Item": {"results": [_item(settings, request)]},
    }
    if request.invoice_ref:
        header["ReferenceSDDocument"] = _reference(request.invoice_ref)
    return header


def posting_result(entity: Any) -> PostingResult | None:
    """Our result for one A_CreditMemoRequest; None without a number."""
    if not isinstance(entity, dict):
        return None
    number = entity.get("CreditMemoRequest")
    if not isinstance(number, str) or not number:
        return None
    status = entity.get("OverallSDProcessStatus")
    # SAP bills a memo request later, in its own billing run.
    return PostingResult(
        external_ref=number,
        applied=False,
        raw_status=status if isinstance(status, str) and status else "created",
    )


def minor_units(value: Any, currency: str) -> int:
    """An Edm.Decimal amount from SAP (a JSON string) in minor units."""
    try:
        amount = Decimal(value) if isinstance(value, str) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        raise BillingTransientError(f"sap: malformed amount {value!r}")
    try:
        # SAP pads to the field's scale ("12.500"); trailing zeros say nothing.
        return parse_amount(format(amount.normalize(), "f"), currency)
    except MoneyError:
        raise BillingTransientError(f"sap: malformed amount {value!r}") from None


def odata_string(value: str) -> str:
    """A string literal for $filter: quoted, with quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def _item(settings: SapSettings, request: PostingRequest) -> dict[str, Any]:
    amount = format_amount(request.amount_minor, request.currency)
    return {
        "Material": settings.material,
        "RequestedQuantity": "1",
        "RequestedQuantityUnit": settings.quantity_unit,
        "CreditMemoRequestItemText": _item_text(request),
        "to_PricingElement": {
            "results": [
                {
                    "ConditionType": settings.condition_type,
                    "ConditionRateValue": amount,
                    "ConditionCurrency": request.currency,
                }
            ]
        },
    }


def _item_text(request: PostingRequest) -> str:
    # The memo text leads with the credit number, so cutting keeps it.
    return request.memo_text[:ITEM_TEXT_CHARS]


def _sold_to(request: PostingRequest) -> str:
    sold_to = (request.external_account_id or "").strip()
    if not sold_to:
        raise BillingRejectedError(
            f"SAP: account {request.account_number} has no external account id "
            "(the SAP sold-to party)"
        )
    if len(sold_to) > SOLD_TO_CHARS:
        raise BillingRejectedError(
            f"SAP: sold-to party {sold_to!r} of account {request.account_number} "
            f"is longer than {SOLD_TO_CHARS} characters"
        )
    return sold_to


def _order_reason(settings: SapSettings, reason: str) -> str:
    code = settings.order_reasons.get(reason)
    if not code:
        raise BillingRejectedError(
            f"SAP: no order reason is configured for reason {reason!r} "
            "(CREDITDESK_SAP_ORDER_REASONS)"
        )
    return code


def _reference(invoice_ref: str) -> str:
    if len(invoice_ref) > REFERENCE_CHARS:
        raise BillingRejectedError(
            f"SAP: invoice {invoice_ref!r} is longer than the {REFERENCE_CHARS} "
            "characters of an SAP document number (ReferenceSDDocument)"
        )
    return invoice_ref
