"""What the fake S/4HANA accepts in a credit memo request, and how it refuses.

The creatable properties, their lengths and types are those of the entity
types A_CreditMemoRequest, A_CreditMemoRequestItem and
A_CreditMemoReqItemPrcgElmnt in the service's metadata.
"""

import json
from decimal import Decimal, InvalidOperation
from typing import Any

# Creatable properties and their lengths (Edm.String) or None (Edm.Decimal),
# from the service's metadata; navigation properties are handled apart.
HEADER_FIELDS: dict[str, int | None] = {
    "CreditMemoRequestType": 4,
    "SalesOrganization": 4,
    "DistributionChannel": 2,
    "OrganizationDivision": 2,
    "SalesGroup": 3,
    "SalesOffice": 4,
    "SoldToParty": 10,
    "PurchaseOrderByCustomer": 35,
    "CustomerPurchaseOrderType": 4,
    "TransactionCurrency": 5,
    "SDDocumentReason": 3,
    "HeaderBillingBlockReason": 2,
    "CustomerPaymentTerms": 4,
    "ReferenceSDDocument": 10,
    "AccountingDocExternalReference": 16,
    "AssignmentReference": 18,
}
REQUIRED_HEADER = (
    "CreditMemoRequestType",
    "SalesOrganization",
    "DistributionChannel",
    "OrganizationDivision",
    "SoldToParty",
)
ITEM_FIELDS: dict[str, int | None] = {
    "CreditMemoRequestItemCategory": 4,
    "CreditMemoRequestItemText": 40,
    "PurchaseOrderByCustomer": 35,
    "Material": 40,
    "MaterialByCustomer": 35,
    "RequestedQuantity": None,
    "RequestedQuantityUnit": 3,
    "Plant": 4,
    "ItemBillingBlockReason": 2,
    "ReferenceSDDocument": 10,
    "ReferenceSDDocumentItem": 6,
}
PRICING_FIELDS: dict[str, int | None] = {
    "PricingProcedureStep": 3,
    "PricingProcedureCounter": 3,
    "ConditionType": 4,
    "ConditionRateValue": None,
    "ConditionCurrency": 5,
    "ConditionQuantity": None,
    "ConditionQuantityUnit": 3,
}


class ODataError(Exception):
    """A refusal rendered as SAP's OData V2 error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def validated(raw: bytes, customers: set[str] | None) -> dict[str, Any]:
    """The memo request in ``raw``, checked as SAP would; ODataError if not."""
    try:
        body = json.loads(raw)
    except ValueError:
        raise ODataError(400, "/IWFND/CM_CONSUMER/004", "Malformed JSON") from None
    if not isinstance(body, dict):
        raise ODataError(400, "/IWFND/CM_CONSUMER/004", "Expected a JSON object")
    items = _deep(body.pop("to_Item", None), "to_Item")
    header = _properties(body, HEADER_FIELDS, "A_CreditMemoRequestType")
    for name in REQUIRED_HEADER:
        if not header.get(name):
            raise ODataError(400, "V1/345", f"Enter a value for field {name}")
    _check_customer(customers, header)
    if not items:
        raise ODataError(400, "V1/555", "The sales document is not complete: no items")
    header["to_Item"] = [_item(raw_item, n) for n, raw_item in enumerate(items, 1)]
    return header


def _check_customer(customers: set[str] | None, header: dict[str, Any]) -> None:
    sold_to = header["SoldToParty"]
    if customers is not None and sold_to not in customers:
        area = "/".join(header[name] for name in REQUIRED_HEADER[1:4])
        message = f"Sold-to party {sold_to} is not defined for sales area {area}"
        raise ODataError(400, "V1/390", message)


def _item(raw: Any, position: int) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ODataError(400, "/IWFND/CM_CONSUMER/004", "An item must be an object")
    pricing = _deep(raw.pop("to_PricingElement", None), "to_PricingElement")
    item = _properties(raw, ITEM_FIELDS, "A_CreditMemoRequestItemType")
    if not item.get("Material"):
        raise ODataError(400, "V1/345", "Enter a value for field Material")
    item["CreditMemoRequestItem"] = str(position * 10)
    item["to_PricingElement"] = [
        _properties(element, PRICING_FIELDS, "A_CreditMemoReqItemPrcgElmntType")
        for element in pricing
    ]
    return item


def _deep(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, dict) or not isinstance(value.get("results"), list):
        raise ODataError(
            400, "/IWFND/CM_CONSUMER/004", f"{name} must be {{'results': [...]}}"
        )
    return value["results"]


def _properties(
    raw: Any, fields: dict[str, int | None], type_name: str
) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ODataError(400, "/IWFND/CM_CONSUMER/004", f"{type_name}: not an object")
    for name, value in raw.items():
        if name not in fields:
            raise ODataError(
                400,
                "/IWFND/CM_MGW/020",
                f"Property '{name}' is invalid for entity type '{type_name}'",
            )
        _check_value(name, value, fields[name])
    return dict(raw)


def _check_value(name: str, value: Any, length: int | None) -> None:
    if not isinstance(value, str):
        # OData V2 JSON carries Edm.String and Edm.Decimal as strings alike.
        raise ODataError(
            400, "/IWFND/CM_CONSUMER/004", f"Property '{name}' must be a JSON string"
        )
    if length is not None and len(value) > length:
        raise ODataError(
            400,
            "/IWFND/CM_MGW/021",
            f"Value '{value}' of property '{name}' exceeds {length} characters",
        )
    if length is None:
        try:
            Decimal(value)
        except InvalidOperation:
            raise ODataError(
                400, "/IWFND/CM_MGW/022", f"Invalid Edm.Decimal '{value}' for {name}"
            ) from None
