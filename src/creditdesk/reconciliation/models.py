"""Reconciliation runs and what each found."""

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from creditdesk.db import Base, BigId, UTCDateTime, str_enum, utcnow_column


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class FindingKind(StrEnum):
    UNTRACKED = "untracked"  # at the vendor, with no approved credit here
    MISSING = "missing"  # approved here, absent there
    MISMATCHED = "mismatched"  # both sides have it, but they disagree


class ReconciliationRun(Base):
    __tablename__ = "reconciliation_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    system: Mapped[str] = mapped_column(sa.String(32))
    period_start: Mapped[date]
    period_end: Mapped[date]
    status: Mapped[RunStatus] = mapped_column(str_enum(RunStatus, "recon_status"))
    vendor_memos: Mapped[int] = mapped_column(default=0)
    matched: Mapped[int] = mapped_column(default=0)
    untracked: Mapped[int] = mapped_column(default=0)
    missing: Mapped[int] = mapped_column(default=0)
    mismatched: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(sa.Text)
    started_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    actor_name: Mapped[str] = mapped_column(sa.String(100))
    started_at: Mapped[datetime] = utcnow_column()
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReconciliationFinding(Base):
    """One discrepancy; matched memos are only counted on the run."""

    __tablename__ = "reconciliation_findings"
    __table_args__ = (sa.Index("ix_recon_findings_run", "run_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("reconciliation_runs.id"))
    kind: Mapped[FindingKind] = mapped_column(str_enum(FindingKind, "finding_kind"))
    credit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("billing_credits.id"))
    external_ref: Mapped[str | None] = mapped_column(sa.String(100))
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(100))
    our_amount_minor: Mapped[int | None] = mapped_column(sa.BigInteger)
    our_currency: Mapped[str | None] = mapped_column(sa.String(3))
    vendor_amount_minor: Mapped[int | None] = mapped_column(sa.BigInteger)
    vendor_currency: Mapped[str | None] = mapped_column(sa.String(3))
    detail: Mapped[str] = mapped_column(sa.String(500))
