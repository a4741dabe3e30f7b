"""SAP's credit memo requests for reconciliation, by creation date.

``GET .../A_CreditMemoRequest`` filtered on a ``CreationDate`` range, ordered
by date and number, ``$top`` at a time with ``$skip``. A gateway that caps
its answers hands out a ``__next`` link instead, which is followed until the
page we asked for is complete. The amount is ``TotalNetAmount``: the adapter
posts one item priced at the credit's amount, so the net is what was sent.
"""

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote, urlencode

from creditdesk.billing.adapters import BillingTransientError
from creditdesk.integrations.http import VendorClient, field_of, json_body
from creditdesk.integrations.sap.adapter import ENTITY_SET, VENDOR, build_client
from creditdesk.integrations.sap.mapping import minor_units
from creditdesk.integrations.sap.settings import SapSettings
from creditdesk.reconciliation.sources import VendorMemo

PAGE = 500
_ODATA_DATE = re.compile(r"/Date\((-?\d+)(?:[+-]\d{4})?\)/")
_FIELDS = (
    "CreditMemoRequest",
    "PurchaseOrderByCustomer",
    "SoldToParty",
    "TotalNetAmount",
    "TransactionCurrency",
    "CreationDate",
)


class SapMemos:
    """The system's credit memo requests created in a period, page by page."""

    def __init__(
        self,
        settings: SapSettings,
        *,
        client: VendorClient | None = None,
        page_size: int = PAGE,
    ) -> None:
        self._client = client or build_client(settings)
        self._page_size = page_size

    def memos(self, start: date, end: date) -> Iterator[list[VendorMemo]]:
        skip = 0
        while True:
            taken = 0
            url: str | None = self._first_url(start, end, skip)
            while url is not None:
                results, url = self._page(url)
                taken += len(results)
                if results:
                    yield [_memo(row) for row in results]
            if taken < self._page_size:
                return
            skip += taken

    def _first_url(self, start: date, end: date, skip: int) -> str:
        date_filter = (
            f"CreationDate ge datetime'{start.isoformat()}T00:00:00' and "
            f"CreationDate le datetime'{end.isoformat()}T00:00:00'"
        )
        options = {
            "$filter": date_filter,
            "$orderby": "CreationDate,CreditMemoRequest",
            "$select": ",".join(_FIELDS),
            "$top": str(self._page_size),
            "$skip": str(skip),
            "$format": "json",
        }
        # Quoted by hand: SAP Gateway wants %20 for spaces, not "+".
        query = urlencode(options, quote_via=quote, safe="',")
        return f"{ENTITY_SET}?{query}"

    def _page(self, url: str) -> tuple[list[dict[str, Any]], str | None]:
        response = self._client.request("GET", url, expect=(200,), retry_safe=True)
        body = field_of(json_body(response, VENDOR), "d", vendor=VENDOR)
        results = field_of(body, "results", vendor=VENDOR)
        if not isinstance(results, list):
            raise BillingTransientError("sap: malformed response: d.results")
        next_link = body.get("__next")
        return results, next_link if isinstance(next_link, str) and next_link else None


def _memo(row: dict[str, Any]) -> VendorMemo:
    currency = str(field_of(row, "TransactionCurrency", vendor=VENDOR))
    key = row.get("PurchaseOrderByCustomer")
    return VendorMemo(
        external_ref=str(field_of(row, "CreditMemoRequest", vendor=VENDOR)),
        idempotency_key=str(key) if key else None,
        account_ref=row.get("SoldToParty") or None,
        amount_minor=minor_units(
            field_of(row, "TotalNetAmount", vendor=VENDOR), currency
        ),
        currency=currency,
        created_on=_day(field_of(row, "CreationDate", vendor=VENDOR)),
    )


def _day(value: Any) -> date:
    match = _ODATA_DATE.fullmatch(str(value))
    if match is None:
        raise BillingTransientError(f"sap: malformed CreationDate {value!r}")
    return datetime.fromtimestamp(int(match[1]) / 1000, UTC).date()
