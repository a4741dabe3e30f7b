from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from creditdesk.db import Base, BigId, UTCDateTime, str_enum, utcnow_column


class MemoStatus(StrEnum):
    POSTED = "posted"
    APPLIED = "applied"
    REVERSED = "reversed"


class LedgerMemo(Base):
    """A credit memo in the built-in ledger, keyed by the outbox idempotency key.

    A memo is reversed at most once; ``reversal_key`` is the idempotency key of
    the void that reversed it.
    """

    __tablename__ = "ledger_memos"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(sa.String(100), unique=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    credit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("billing_credits.id"))
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger)
    currency: Mapped[str] = mapped_column(sa.String(3))
    status: Mapped[MemoStatus] = mapped_column(str_enum(MemoStatus, "memo_status"))
    created_at: Mapped[datetime] = utcnow_column()
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reversal_key: Mapped[str | None] = mapped_column(sa.String(100), unique=True)
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def reference(self) -> str:
        return memo_reference(self.id)


def memo_reference(memo_id: int) -> str:
    """How ledger memo ``memo_id`` is named outside the ledger: a credit's
    ``external_ref``, and what reconciliation matches on."""
    return f"LM-{memo_id:08d}"


class LedgerEntry(Base):
    """A movement on an account's balance; a credit memo applied is negative,
    its reversal positive."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    memo_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ledger_memos.id"))
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger)
    currency: Mapped[str] = mapped_column(sa.String(3))
    description: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = utcnow_column()
