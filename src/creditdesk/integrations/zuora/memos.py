"""Zuora's credit memos for reconciliation, read with the Object Query API.

``GET /object-query/credit-memos`` is what the adapter already uses to find
a memo by our key; here it filters on the memo date, sorts oldest first and
pages with the ``nextPage`` cursor. ``expand[]=account`` brings the account
number, which is what our accounts keep as their Zuora ``external_account_id``
(the adapter would accept the account's id as well, but an account kept that
way reconciles as mismatched on account).
"""

from collections.abc import Iterator
from datetime import date
from typing import Any

from creditdesk.billing.adapters import BillingTransientError
from creditdesk.integrations.http import VendorClient, field_of
from creditdesk.integrations.zuora.adapter import VENDOR, call, shared_client
from creditdesk.integrations.zuora.amounts import minor_units
from creditdesk.integrations.zuora.settings import ZuoraSettings
from creditdesk.reconciliation.sources import VendorMemo

# The most the Object Query API returns in one page.
MAX_PAGE = 99


class ZuoraMemos:
    """The tenant's credit memos by memo date, a page per request."""

    def __init__(
        self,
        settings: ZuoraSettings,
        *,
        client: VendorClient | None = None,
        page_size: int = MAX_PAGE,
    ) -> None:
        self._settings = settings
        self._client = client or shared_client(settings)
        self._page_size = page_size

    def memos(self, start: date, end: date) -> Iterator[list[VendorMemo]]:
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {
                "filter[]": [
                    f"memodate.GE:{start.isoformat()}",
                    f"memodate.LE:{end.isoformat()}",
                ],
                "sort[]": "memodate.ASC",
                "expand[]": "account",
                "pageSize": str(self._page_size),
            }
            if cursor:
                params["cursor"] = cursor
            body = call(
                self._client,
                self._settings,
                "GET",
                "/object-query/credit-memos",
                params=params,
            )
            rows = field_of(body, "data", vendor=VENDOR)
            if not isinstance(rows, list):
                raise BillingTransientError("zuora: malformed credit memo page")
            yield [self._memo(row) for row in rows]
            cursor = body.get("nextPage")
            if not cursor:
                return

    def _memo(self, row: dict[str, Any]) -> VendorMemo:
        currency = str(field_of(row, "currency", vendor=VENDOR))
        account = row.get("account") or {}
        key = row.get(self._settings.idempotency_field)
        return VendorMemo(
            external_ref=str(field_of(row, "memoNumber", vendor=VENDOR)),
            idempotency_key=str(key) if key else None,
            account_ref=account.get("accountNumber") or row.get("accountId"),
            amount_minor=minor_units(
                field_of(row, "totalAmount", vendor=VENDOR), currency
            ),
            currency=currency,
            created_on=_day(field_of(row, "memoDate", vendor=VENDOR)),
        )


def _day(value: Any) -> date:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise BillingTransientError(f"zuora: malformed memo date {value!r}") from None
