"""Callbacks received from billing systems, each stored once."""

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from creditdesk.db import Base, BigId, UTCDateTime, str_enum, utcnow_column


class Outcome(StrEnum):
    APPLIED = "applied"  # the credit moved to applied
    IGNORED = "ignored"  # stored, nothing changed; ``error`` says why


class InboxEvent(Base):
    """One callback as the vendor sent it and what we did with it.

    The vendor's event id is unique per system, so a repeated delivery
    finds the stored row instead of acting twice.
    """

    __tablename__ = "inbox_events"
    __table_args__ = (
        sa.UniqueConstraint(
            "system", "external_event_id", name="uq_inbox_events_system_event"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    system: Mapped[str] = mapped_column(sa.String(32))
    external_event_id: Mapped[str] = mapped_column(sa.String(200))
    event_type: Mapped[str] = mapped_column(sa.String(100))
    external_ref: Mapped[str | None] = mapped_column(sa.String(100), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    received_at: Mapped[datetime] = utcnow_column()
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[Outcome | None] = mapped_column(str_enum(Outcome, "inbox_outcome"))
    error: Mapped[str | None] = mapped_column(sa.String(500))
