"""Subscriptions to domain events, and the log of every delivery attempt."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from creditdesk.db import Base, BigId, UTCDateTime, utcnow_column


class EventSubscription(Base):
    """A URL that receives the named events (every event when none are
    named), signed with the subscription's secret."""

    __tablename__ = "event_subscriptions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    url: Mapped[str] = mapped_column(sa.String(2000))
    # The receiver checks signatures with it, so it is kept to sign with.
    secret: Mapped[str] = mapped_column(sa.String(128))
    event_types: Mapped[list[str]] = mapped_column(sa.JSON)
    description: Mapped[str | None] = mapped_column(sa.String(200))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = utcnow_column()
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class EventDelivery(Base):
    """One attempt to hand one event to one subscription."""

    __tablename__ = "event_deliveries"
    __table_args__ = (
        sa.Index("ix_event_deliveries_subscription", "subscription_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        sa.ForeignKey("event_subscriptions.id")
    )
    event_id: Mapped[str] = mapped_column(sa.String(40), index=True)
    event_type: Mapped[str] = mapped_column(sa.String(64))
    attempt: Mapped[int]
    # delivered, retrying or failed
    outcome: Mapped[str] = mapped_column(sa.String(16))
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(sa.Text)
    duration_ms: Mapped[int]
    created_at: Mapped[datetime] = utcnow_column()
