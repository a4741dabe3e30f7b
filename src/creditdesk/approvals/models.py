"""Approval chains, the work items that carry them, and delegations.

An approval request is one run of a chain for one submission of a credit; a
resubmitted credit gets a new request. Its steps follow the policy in order.
The work itself is done through work items: each person (or queue) a step or
a handoff is waiting on holds one, with its own status, due time and the
time it took.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from creditdesk.db import Base, BigId, UTCDateTime, str_enum, utcnow_column


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    RECALLED = "recalled"
    RETURNED = "returned"  # sent back to the agent for more information


class StepStatus(StrEnum):
    WAITING = "waiting"  # a later step; not yet anyone's to decide
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    RECALLED = "recalled"
    RETURNED = "returned"  # a later step sent it back, or the agent was asked
    SKIPPED = "skipped"  # never reached: an earlier step ended the request


class ApprovalRequest(Base):
    __tablename__ = "approval_requests"
    # Reports read each credit's first request without the table.
    __table_args__ = (
        sa.Index("ix_approval_requests_credit_created", "credit_id", "created_at"),
    )

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
    """One position in the chain; ``config`` is the policy step it follows."""

    __tablename__ = "approval_steps"
    __table_args__ = (sa.UniqueConstraint("request_id", "sequence"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("approval_requests.id"))
    credit_id: Mapped[int] = mapped_column(
        sa.ForeignKey("billing_credits.id"), index=True
    )
    sequence: Mapped[int]
    # The approver as the policy wrote it: "manager", "queue:finance", ...
    kind: Mapped[str] = mapped_column(sa.String(255))
    mode: Mapped[str] = mapped_column(sa.String(16))
    config: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    status: Mapped[StepStatus] = mapped_column(
        str_enum(StepStatus, "approval_step_status")
    )
    # Who settled the step (the last approval of an ``all`` step).
    acting_approver_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    comment: Mapped[str | None] = mapped_column(sa.Text)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = utcnow_column()

    request: Mapped[ApprovalRequest] = relationship(back_populates="steps")
    items: Mapped[list["WorkItem"]] = relationship(
        order_by="WorkItem.id", back_populates="step"
    )


class WorkItemKind(StrEnum):
    APPROVAL = "approval"  # decide an approval step
    MORE_INFO = "more_info"  # the agent edits and resubmits
    REJECTED = "rejected"  # the agent is told why, and follows up the case
    POSTING_FAILED = "posting_failed"  # billing operations sort it out


class WorkItemStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    REASSIGNED = "reassigned"
    ESCALATED = "escalated"
    RECALLED = "recalled"
    NO_RESPONSE = "no_response"  # someone else in the group or queue answered
    DONE = "done"


OPEN_ITEM = WorkItemStatus.PENDING


class WorkItem(Base):
    """Work waiting on one person, or on a role queue nobody holds yet."""

    __tablename__ = "work_items"
    __table_args__ = (
        sa.Index("ix_work_items_assignee_status", "assignee_id", "status"),
        sa.Index("ix_work_items_queue_status", "queue_role", "status"),
        # Timers look for open items whose reminder or deadline has come.
        sa.Index("ix_work_items_status_due", "status", "due_at"),
        sa.Index("ix_work_items_status_remind", "status", "remind_at"),
        # Record access finds the credits of every item a person ever held.
        sa.Index("ix_work_items_original_assignee", "original_assignee_id"),
        sa.Index("ix_work_items_decided_by", "decided_by_id"),
        # Reports count failed postings by when they were handed over.
        sa.Index("ix_work_items_kind_assigned", "kind", "assigned_at", "credit_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[WorkItemKind] = mapped_column(str_enum(WorkItemKind, "work_item_kind"))
    credit_id: Mapped[int] = mapped_column(
        sa.ForeignKey("billing_credits.id"), index=True
    )
    step_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("approval_steps.id"), index=True
    )
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # The role queue the item came through; a claim keeps it and sets claimed_at.
    queue_role: Mapped[str | None] = mapped_column(sa.String(32))
    # Whose it would have been: differs from the assignee after delegation.
    original_assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # Why it reached the assignee: policy, delegation, reassigned, escalated.
    origin: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[WorkItemStatus] = mapped_column(
        str_enum(WorkItemStatus, "work_item_status")
    )
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    remind_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # Assignment to decision, what reports call the time to approve.
    elapsed_seconds: Mapped[int | None] = mapped_column(sa.BigInteger)
    comment: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = utcnow_column()

    step: Mapped[ApprovalStep | None] = relationship(back_populates="items")

    @property
    def is_open(self) -> bool:
        return self.status is WorkItemStatus.PENDING


class Delegation(Base):
    """While ``starts_at <= now < ends_at``, ``user``'s new work goes to
    ``delegate``."""

    __tablename__ = "delegations"
    __table_args__ = (sa.Index("ix_delegations_user_period", "user_id", "starts_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    delegate_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = utcnow_column()
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
