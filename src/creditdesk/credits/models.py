from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, mapped_column

from creditdesk.db import Base, BigId, UTCDateTime, str_enum, utcnow_column

NUMBER_PREFIX = "BC-"


class CreditStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    POSTING = "posting"
    POSTED = "posted"
    APPLIED = "applied"
    REFUSED = "refused"
    REJECTED = "rejected"
    RECALLED = "recalled"
    POSTING_FAILED = "posting_failed"
    # Voided here; its memo is being reversed at the billing system.
    VOIDING = "voiding"
    VOIDED = "voided"


# A credit in one of these states will not move again by itself.
FINAL_STATUSES = frozenset(
    {
        CreditStatus.APPLIED,
        CreditStatus.REFUSED,
        CreditStatus.REJECTED,
        CreditStatus.RECALLED,
        CreditStatus.VOIDED,
    }
)


class BillingCredit(Base):
    __tablename__ = "billing_credits"
    __table_args__ = (
        sa.CheckConstraint("amount_minor > 0", name="amount_positive"),
        sa.Index("ix_billing_credits_account_created", "account_id", "created_at"),
        sa.Index("ix_billing_credits_status_id", "status", "id"),
        sa.Index("ix_billing_credits_requested_by_id", "requested_by_id", "id"),
        # Reports scan a date range and group without touching the table:
        # credits by the day they were raised, and by the day they were posted.
        sa.Index(
            "ix_billing_credits_report_created",
            "created_at",
            "status",
            "team_id",
            "requested_by_id",
            "reason",
            "product",
            "currency",
            "amount_minor",
            "decided_at",
        ),
        # The same columns in the order credits issued are grouped by, so a
        # long range is added up in one pass over the index, without a sort.
        sa.Index(
            "ix_billing_credits_report_grouped",
            "team_id",
            "requested_by_id",
            "reason",
            "product",
            "currency",
            "created_at",
            "status",
            "amount_minor",
        ),
        # Approval share reads credits one team and month at a time: each is
        # a range of this index, filtered and timed without touching the table.
        sa.Index(
            "ix_billing_credits_report_team_created",
            "team_id",
            "created_at",
            "status",
            "requested_by_id",
            "reason",
            "product",
            "currency",
            "approval_requested_at",
            "decided_at",
        ),
        sa.Index(
            "ix_billing_credits_report_posted",
            "posted_at",
            "team_id",
            "currency",
            "amount_minor",
            "status",
            "near_duplicate",
            "over_cap",
        ),
        # Leakage groups posted credits in this order: a short range is read
        # through the index above, a long one off this one, already in group
        # order (the month is a column, not an expression to sort by).
        sa.Index(
            "ix_billing_credits_report_posted_grouped",
            "team_id",
            "posted_month",
            "currency",
            "near_duplicate",
            "over_cap",
            "status",
            "posted_at",
            "amount_minor",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))
    requested_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id"))
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger)
    currency: Mapped[str] = mapped_column(sa.String(3))
    type: Mapped[str] = mapped_column(sa.String(32))
    reason: Mapped[str] = mapped_column(sa.String(32))
    justification: Mapped[str] = mapped_column(sa.Text)
    product: Mapped[str | None] = mapped_column(sa.String(100))
    invoice_ref: Mapped[str | None] = mapped_column(sa.String(100))
    status: Mapped[CreditStatus] = mapped_column(
        str_enum(CreditStatus, "credit_status")
    )
    policy_version: Mapped[int] = mapped_column()
    decision: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    near_duplicate: Mapped[bool] = mapped_column(default=False)
    over_cap: Mapped[bool] = mapped_column(default=False)
    external_ref: Mapped[str | None] = mapped_column(sa.String(100))
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = utcnow_column()
    updated_at: Mapped[datetime] = utcnow_column()
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # posted_at's month in UTC ("2026-03"), set with it (below): a report
    # grouping by month reads an index in that order instead of sorting.
    posted_month: Mapped[str | None] = mapped_column(sa.String(7))
    # When the credit's first approval request was opened (the approvals
    # service sets it), so the approval report need not look up every
    # credit's requests.
    approval_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    @property
    def number(self) -> str:
        return format_number(self.id) if self.id is not None else "a new credit"


@event.listens_for(BillingCredit.posted_at, "set")
def _set_posted_month(
    credit: BillingCredit, value: datetime | None, _old: Any, _initiator: Any
) -> None:
    credit.posted_month = None if value is None else utc_month(value)


def utc_month(moment: datetime) -> str:
    """``2026-03`` for a time in March 2026 UTC (a naive time is taken as UTC,
    as the column stores it)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment.year:04d}-{moment.month:02d}"


def format_number(credit_id: int) -> str:
    return f"{NUMBER_PREFIX}{credit_id:06d}"


def parse_number(number: str) -> int | None:
    """``BC-000123`` -> 123; None when it is not a credit number."""
    if not number.startswith(NUMBER_PREFIX):
        return None
    digits = number.removeprefix(NUMBER_PREFIX)
    return int(digits) if digits.isdigit() else None
