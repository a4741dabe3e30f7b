"""What the invoices API takes and returns. Amounts are decimal strings in the
account's currency, checked by the service (see ``money``)."""

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from creditdesk.api.text import Because
from creditdesk.invoices.models import Invoice, InvoiceStatus
from creditdesk.money import format_amount


class InvoiceIn(BaseModel):
    """An invoice the billing system issued to ``account_id``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "account_id": 1,
                    "reference": "INV-2026-03-0042",
                    "issued_on": "2026-03-01",
                    "period_start": "2026-02-01",
                    "period_end": "2026-02-28",
                    "amount": "84.50",
                    "currency": "GBP",
                }
            ]
        },
    )

    account_id: int
    reference: StrictStr = Field(min_length=1, max_length=100)
    issued_on: date
    period_start: date | None = None
    period_end: date | None = None
    amount: StrictStr = Field(description='Decimal string, e.g. "84.50"')
    currency: StrictStr = Field(description="The account's ISO 4217 code")


class CancelIn(BaseModel):
    """Why the invoice is cancelled; kept in the audit trail."""

    model_config = ConfigDict(extra="forbid")

    reason: Because = Field(max_length=500)


class InvoiceOut(BaseModel):
    id: int
    account_id: int
    reference: str
    issued_on: date
    period_start: date | None
    period_end: date | None
    amount: str
    currency: str
    status: InvoiceStatus
    cancelled_at: datetime | None
    created_by_id: int | None
    created_at: datetime

    @classmethod
    def of(cls, row: Invoice) -> "InvoiceOut":
        return cls(
            id=row.id,
            account_id=row.account_id,
            reference=row.reference,
            issued_on=row.issued_on,
            period_start=row.period_start,
            period_end=row.period_end,
            amount=format_amount(row.amount_minor, row.currency),
            currency=row.currency,
            status=row.status,
            cancelled_at=row.cancelled_at,
            created_by_id=row.created_by_id,
            created_at=row.created_at,
        )
