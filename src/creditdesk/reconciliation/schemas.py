"""What comes in and goes out of the reconciliation routes."""

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from creditdesk.accounts.models import BillingSystem
from creditdesk.money import format_amount
from creditdesk.reconciliation.matching import without_amounts
from creditdesk.reconciliation.models import (
    FindingKind,
    ReconciliationFinding,
    ReconciliationRun,
    RunStatus,
)


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    system: BillingSystem
    start: date = Field(alias="from", description="First day, inclusive")
    end: date = Field(alias="to", description="Last day, inclusive")


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    system: str
    period_start: date
    period_end: date
    status: RunStatus
    vendor_memos: int
    matched: int
    untracked: int
    missing: int
    mismatched: int
    error: str | None
    started_by_id: int | None
    actor_name: str
    started_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, run: ReconciliationRun) -> "RunOut":
        return cls.model_validate(run)


class FindingOut(BaseModel):
    id: int
    kind: FindingKind
    credit_id: int | None
    external_ref: str | None
    idempotency_key: str | None
    our_amount: str | None = Field(description="Decimal string in our currency")
    our_currency: str | None
    vendor_amount: str | None
    vendor_currency: str | None
    detail: str

    @classmethod
    def of(
        cls, finding: ReconciliationFinding, *, amounts: bool = True
    ) -> "FindingOut":
        """The finding as its reader may see it: ``amounts=False`` for a
        reader whose credit amount is hidden (see ``without_amounts``)."""
        out = cls(
            id=finding.id,
            kind=finding.kind,
            credit_id=finding.credit_id,
            external_ref=finding.external_ref,
            idempotency_key=finding.idempotency_key,
            our_amount=_amount(finding.our_amount_minor, finding.our_currency),
            our_currency=finding.our_currency,
            vendor_amount=_amount(finding.vendor_amount_minor, finding.vendor_currency),
            vendor_currency=finding.vendor_currency,
            detail=finding.detail,
        )
        return out if amounts else out.without_amounts()

    def without_amounts(self) -> "FindingOut":
        """No amounts, and an amount mismatch in the detail said without them
        (the currencies stay: they say nothing of the sums)."""
        hidden = dict.fromkeys(AMOUNT_FIELDS) | {"detail": without_amounts(self.detail)}
        return self.model_copy(update=hidden)


AMOUNT_FIELDS = ("our_amount", "vendor_amount")


def _amount(minor: int | None, currency: str | None) -> str | None:
    if minor is None or currency is None:
        return None
    return format_amount(minor, currency)


CSV_COLUMNS = list(FindingOut.model_fields)


def csv_rows(
    found: Iterable[ReconciliationFinding], *, amounts: bool = True
) -> Iterator[str]:
    """The findings as CSV text, a header first, one chunk per row; without
    ``amounts`` the amount columns are left out, not left empty."""
    columns = [c for c in CSV_COLUMNS if amounts or c not in AMOUNT_FIELDS]
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(columns)
    yield flush()
    for finding in found:
        row = FindingOut.of(finding, amounts=amounts).model_dump(mode="json")
        writer.writerow(["" if row[c] is None else row[c] for c in columns])
        yield flush()
