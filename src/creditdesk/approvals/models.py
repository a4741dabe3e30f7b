from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from creditdesk.db import Base, BigId, UTCDateTime, str_enum, utcnow_column


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    RECALLED = "recalled"


class StepStatus(StrEnum):
    WAITING = "waiting"  # a later step; not yet anyone's to decide
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    RECALLED = "recalled"
    SKIPPED = "skipped"  # never reached: an earlier step ended the request


class ApprovalRequest(Base):
    __tablename__ = "approval_requests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    credit_id: Mapped[int] = mapped_column(
        sa.ForeignKey("billing_credits.id"), index=True
    )
    status: Mapped[RequestStatus] = mapped_column(
        str_enum(RequestStatus, "approval_request_status")
    )
    created_at: Mapped[datetime] = utcnow_column()
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    steps: Mapped[list["ApprovalStep"]] = relationship(
        order_by="ApprovalStep.sequence", back_populates="request"
    )


class ApprovalStep(Base):
    """One decision in the chain, assigned to a user or to a role queue."""

    __tablename__ = "approval_steps"
    __table_args__ = (
        sa.UniqueConstraint("request_id", "sequence"),
        sa.Index("ix_approval_steps_approver_status", "approver_id", "status"),
        sa.Index("ix_approval_steps_queue_status", "queue_role", "status"),
        # Record access looks steps up by each approver column, so a viewer's
        # credits are found without reading every step.
        sa.Index("ix_approval_steps_original_approver", "original_approver_id"),
        sa.Index("ix_approval_steps_acting_approver", "acting_approver_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("approval_requests.id"))
    credit_id: Mapped[int] = mapped_column(
        sa.ForeignKey("billing_credits.id"), index=True
    )
    sequence: Mapped[int]
    # What the policy asked for: "manager", "finance", ...
    kind: Mapped[str] = mapped_column(sa.String(32))
    approver_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    queue_role: Mapped[str | None] = mapped_column(sa.String(32))
    original_approver_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    acting_approver_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    status: Mapped[StepStatus] = mapped_column(
        str_enum(StepStatus, "approval_step_status")
    )
    comment: Mapped[str | None] = mapped_column(sa.Text)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = utcnow_column()

    request: Mapped[ApprovalRequest] = relationship(back_populates="steps")
