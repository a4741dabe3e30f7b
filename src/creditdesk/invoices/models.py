"""Invoices as the billing system issued them, one row per (account, reference)."""

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from creditdesk.db import Base, BigId, utcnow_column


class Invoice(Base):
    """An invoice issued to an account, in the account's currency.

    ``reference`` is the billing system's invoice number, the one cases and
    credits carry as ``invoice_ref``; it is unique within an account.
    """

    # TODO(invoice-status): an invoice the billing system later cancels or
    # credits in full stays billed revenue here, since an invoice has no
    # status; a status set by the import (issued, cancelled), changed with
    # an audited PATCH, and the leakage report counting only issued ones
    # would fix it.
    __tablename__ = "invoices"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "reference"),
        sa.CheckConstraint("amount_minor > 0", name="positive_amount"),
        # Reports: revenue per team, day and currency, summed from the index
        # alone and read in that order, so no join and no sort.
        sa.Index(
            "ix_invoices_report_team_issued",
            "team_id",
            "issued_on",
            "currency",
            "amount_minor",
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
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = utcnow_column()
