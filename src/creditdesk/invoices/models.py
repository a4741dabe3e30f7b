"""Invoices as the billing system issued them, one row per (account, reference)."""

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from creditdesk.db import Base, BigId, UTCDateTime, str_enum, utcnow_column


class InvoiceStatus(enum.StrEnum):
    ISSUED = "issued"
    # The billing system cancelled it, or credited it in full: no revenue.
    CANCELLED = "cancelled"


class Invoice(Base):
    """An invoice issued to an account, in the account's currency.

    ``reference`` is the billing system's invoice number, the one cases and
    credits carry as ``invoice_ref``; it is unique within an account.
    """

    __tablename__ = "invoices"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "reference"),
        sa.CheckConstraint("amount_minor > 0", name="positive_amount"),
        # Reports: revenue per team, day and currency, summed from the index
        # alone and read in that order, so no join and no sort (a cancelled
        # invoice is passed over there).
        sa.Index(
            "ix_invoices_report_team_issued",
            "team_id",
            "issued_on",
            "currency",
            "amount_minor",
            "status",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))
    # The account's team, copied so that revenue by team needs no join;
    # moving the account moves its invoices with it (accounts.service).
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id"))
    reference: Mapped[str] = mapped_column(sa.String(100))
    issued_on: Mapped[date]
    # The billing period the invoice covers, when the billing system says.
    period_start: Mapped[date | None]
    period_end: Mapped[date | None]
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger)
    currency: Mapped[str] = mapped_column(sa.String(3))
    # Revenue only while issued; a bulk import that names no status issues.
    status: Mapped[InvoiceStatus] = mapped_column(
        str_enum(InvoiceStatus, "invoice_status"),
        default=InvoiceStatus.ISSUED,
        server_default=InvoiceStatus.ISSUED.value,
    )
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = utcnow_column()
