from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from creditdesk.db import Base, BigId, UTCDateTime, str_enum, utcnow_column


class CaseType(StrEnum):
    BILLING_DISPUTE = "billing_dispute"
    SERVICE_ISSUE = "service_issue"
    OTHER = "other"


class CaseStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        sa.Index("ix_cases_status_id", "status", "id"),
        # Reports: cases resolved in a date range, grouped without the table.
        sa.Index(
            "ix_cases_report_resolved",
            "resolved_at",
            "type",
            "team_id",
            "owner_id",
            "opened_at",
        ),
        # Resolution time reads cases one team and week at a time: each is a
        # range of this index, filtered and timed without touching the table.
        sa.Index(
            "ix_cases_report_team_resolved",
            "team_id",
            "resolved_at",
            "type",
            "owner_id",
            "product",
            "currency",
            "opened_at",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    subject: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str | None] = mapped_column(sa.Text)
    type: Mapped[CaseType] = mapped_column(str_enum(CaseType, "case_type"))
    product: Mapped[str | None] = mapped_column(sa.String(100))
    invoice_ref: Mapped[str | None] = mapped_column(sa.String(100))
    disputed_amount_minor: Mapped[int | None] = mapped_column(sa.BigInteger)
    currency: Mapped[str] = mapped_column(sa.String(3))
    status: Mapped[CaseStatus] = mapped_column(
        str_enum(CaseStatus, "case_status"), default=CaseStatus.OPEN
    )
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id"))
    opened_at: Mapped[datetime] = utcnow_column()
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def number(self) -> str:
        return f"CS-{self.id:06d}"
