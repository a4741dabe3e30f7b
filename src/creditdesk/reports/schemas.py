"""What the reports API returns, and the exchange rates it takes."""

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from creditdesk.reports.models import ExchangeRate


class ReportOut(BaseModel):
    """A report: its filters as applied, how amounts are shown
    (``per_currency``, ``converted`` or ``hidden``) and its tables of rows."""

    report: str
    title: str
    filters: dict[str, Any]
    amounts: str
    tables: dict[str, list[dict[str, Any]]]
    notes: list[str]


class ReportLink(BaseModel):
    name: str
    title: str
    json_url: str = Field(serialization_alias="json")
    csv: str
    xlsx: str


class ExchangeRateIn(BaseModel):
    """One ``base`` is worth ``rate`` ``quote`` from ``effective_on``."""

    model_config = ConfigDict(extra="forbid")

    base: str = Field(min_length=3, max_length=3, examples=["EUR"])
    quote: str = Field(min_length=3, max_length=3, examples=["GBP"])
    effective_on: date
    rate: str = Field(max_length=40, examples=["0.8532"])


class ExchangeRateOut(BaseModel):
    id: int
    base: str
    quote: str
    effective_on: date
    rate: str
    created_by_id: int | None
    created_at: datetime

    @classmethod
    def of(cls, row: ExchangeRate) -> "ExchangeRateOut":
        return cls(
            id=row.id,
            base=row.base,
            quote=row.quote,
            effective_on=row.effective_on,
            rate=row.rate,
            created_by_id=row.created_by_id,
            created_at=row.created_at,
        )


class ExchangeRatesOut(BaseModel):
    items: list[ExchangeRateOut]
