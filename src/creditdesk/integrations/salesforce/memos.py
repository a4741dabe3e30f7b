"""Salesforce Billing's credit notes for reconciliation, by credit note date.

One SOQL query over ``blng__CreditNote__c`` for the period, oldest first;
Salesforce answers it in batches joined by ``nextRecordsUrl``. The note's Id
is its reference (what the adapter records as ``external_ref``), the key is
in the external-ID field the adapter writes, and the amount is the note's
``blng__TotalAmount__c``, the total of the lines the adapter created.
"""

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

from creditdesk.billing.adapters import BillingTransientError
from creditdesk.integrations.http import field_of
from creditdesk.integrations.salesforce.adapter import NOTE, shared_client
from creditdesk.integrations.salesforce.client import VENDOR, SalesforceClient
from creditdesk.integrations.salesforce.settings import SalesforceSettings
from creditdesk.money import MoneyError, parse_amount
from creditdesk.reconciliation.sources import VendorMemo

DATE_FIELD = "blng__CreditNoteDate__c"
AMOUNT_FIELD = "blng__TotalAmount__c"


class SalesforceMemos:
    """The org's credit notes dated in a period, a batch per page."""

    def __init__(
        self,
        settings: SalesforceSettings,
        *,
        client: SalesforceClient | None = None,
    ) -> None:
        if not settings.multi_currency and settings.currency is None:
            raise ValueError("a single-currency org needs its currency set")
        self._settings = settings
        self._client = client or shared_client(settings)

    def memos(self, start: date, end: date) -> Iterator[list[VendorMemo]]:
        for records in self._client.query_all(self.soql(start, end)):
            yield [self._memo(record) for record in records]

    def soql(self, start: date, end: date) -> str:
        fields = ["Id", "Name", self._settings.key_field, "blng__Account__c"]
        fields += [AMOUNT_FIELD, DATE_FIELD]
        if self._settings.multi_currency:
            fields.append("CurrencyIsoCode")
        # Date literals are unquoted in SOQL; names are checked API names.
        return (
            f"SELECT {', '.join(fields)} FROM {NOTE} "  # noqa: S608
            f"WHERE {DATE_FIELD} >= {start.isoformat()} "
            f"AND {DATE_FIELD} <= {end.isoformat()} "
            f"ORDER BY {DATE_FIELD}, Id"
        )

    def _memo(self, record: dict[str, Any]) -> VendorMemo:
        currency = self._settings.currency
        if self._settings.multi_currency:
            currency = str(field_of(record, "CurrencyIsoCode", vendor=VENDOR))
        assert currency is not None
        key = record.get(self._settings.key_field)
        return VendorMemo(
            external_ref=str(field_of(record, "Id", vendor=VENDOR)),
            idempotency_key=str(key) if key else None,
            account_ref=record.get("blng__Account__c") or None,
            amount_minor=_minor(
                field_of(record, AMOUNT_FIELD, vendor=VENDOR), currency
            ),
            currency=currency,
            created_on=_day(field_of(record, DATE_FIELD, vendor=VENDOR)),
        )


def _minor(value: Any, currency: str) -> int:
    # Currency fields come as JSON numbers, read as Decimal (or int when whole).
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise BillingTransientError(f"{VENDOR}: malformed amount {value!r}")
    try:
        return parse_amount(format(Decimal(value).normalize(), "f"), currency)
    except MoneyError:
        raise BillingTransientError(f"{VENDOR}: malformed amount {value!r}") from None


def _day(value: Any) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise BillingTransientError(f"{VENDOR}: malformed date {value!r}") from None
