"""Where API_CREDIT_MEMO_REQUEST_SRV lives, and how its refusals read."""

import httpx

from creditdesk.billing.adapters import BillingRejectedError
from creditdesk.integrations.http import snippet

VENDOR = "sap"
SERVICE_PATH = "/sap/opu/odata/sap/API_CREDIT_MEMO_REQUEST_SRV"
ENTITY_SET = f"{SERVICE_PATH}/A_CreditMemoRequest"
ITEM_SET = f"{SERVICE_PATH}/A_CreditMemoRequestItem"
CSRF_HEADER = "X-CSRF-Token"


def csrf_required(response: httpx.Response) -> bool:
    """SAP refused the write's CSRF token (its session ended): fetch another."""
    token = response.headers.get(CSRF_HEADER, "")
    return response.status_code == 403 and token.lower() == "required"


def refusal(response: httpx.Response) -> BillingRejectedError:
    """SAP's own words from an OData error body, or the start of the answer."""
    status = response.status_code
    try:
        error = response.json()["error"]
        code, message = error.get("code"), error["message"]["value"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return BillingRejectedError(f"sap: {status}: {snippet(response)}")
    suffix = f" ({code})" if code else ""
    return BillingRejectedError(f"sap: {status}: {message}{suffix}")
