"""What comes in and goes out of the work-item and delegation routes."""

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from creditdesk.access.fields import FieldView
from creditdesk.api.text import FreeText
from creditdesk.approvals.models import (
    ApprovalStep,
    Delegation,
    StepStatus,
    WorkItem,
    WorkItemKind,
    WorkItemStatus,
)
from creditdesk.policy.chains import Approver


class WorkItemOut(BaseModel):
    """Work waiting on one person, or open to a role queue."""

    id: int
    kind: WorkItemKind
    status: WorkItemStatus
    credit_id: int
    step: int | None = Field(description="The approval step's sequence, if any")
    assignee_id: int | None = Field(description="None while open to a queue")
    queue_role: str | None
    original_assignee_id: int | None = Field(
        description="Whose it would have been, when it was delegated"
    )
    origin: str = Field(description="policy, delegation, reassigned, escalated...")
    assigned_at: datetime
    due_at: datetime | None
    remind_at: datetime | None
    reminded_at: datetime | None
    claimed_at: datetime | None
    decided_at: datetime | None
    decided_by_id: int | None
    elapsed_seconds: int | None = Field(
        description="From assignment to decision, in seconds"
    )
    comment: str | None

    @classmethod
    def of(cls, item: WorkItem, view: FieldView) -> "WorkItemOut":
        return cls(
            id=item.id,
            kind=item.kind,
            status=item.status,
            credit_id=item.credit_id,
            step=item.step.sequence if item.step is not None else None,
            assignee_id=item.assignee_id,
            queue_role=item.queue_role,
            original_assignee_id=item.original_assignee_id,
            origin=item.origin,
            assigned_at=item.assigned_at,
            due_at=item.due_at,
            remind_at=item.remind_at,
            reminded_at=item.reminded_at,
            claimed_at=item.claimed_at,
            decided_at=item.decided_at,
            decided_by_id=item.decided_by_id,
            elapsed_seconds=item.elapsed_seconds,
            # Comments may quote an amount the reader may not see.
            comment=view.mask_text(item.comment),
        )


def work_item_json(item: WorkItem, view: FieldView) -> dict[str, Any]:
    return WorkItemOut.of(item, view).model_dump(mode="json")


class StepOut(BaseModel):
    sequence: int
    kind: str = Field(description="The approver as the policy names it")
    mode: str = Field(description="one, first or all")
    status: StepStatus
    acting_approver_id: int | None
    comment: str | None
    assigned_at: datetime | None
    decided_at: datetime | None
    deadline_minutes: int = Field(description="Business minutes; 0 for none")
    escalate_to: str
    on_reject: str


def step_json(step: ApprovalStep, view: FieldView) -> dict[str, Any]:
    config = step.config
    escalate = config.get("escalate_to") or {}
    return StepOut(
        sequence=step.sequence,
        kind=step.kind,
        mode=step.mode,
        status=step.status,
        acting_approver_id=step.acting_approver_id,
        comment=view.mask_text(step.comment),
        assigned_at=step.assigned_at,
        decided_at=step.decided_at,
        deadline_minutes=int(config.get("deadline_minutes", 0)),
        escalate_to=_approver_label(escalate),
        on_reject=config.get("on_reject", "end"),
    ).model_dump(mode="json")


def _approver_label(stored: dict[str, Any]) -> str:
    if not stored:
        return "approver_manager"
    return Approver.model_validate(stored).label


class ItemDecisionIn(BaseModel):
    """``approve`` or ``reject`` an approval item (a rejection needs a
    comment), ``request_info`` to return the credit to its agent with a
    question, or ``done`` for a handoff."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject", "request_info", "done"]
    comment: FreeText | None = Field(default=None, max_length=4000)


class ReassignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignee_id: int = Field(description="The user who takes the item over")
    comment: FreeText | None = Field(default=None, max_length=4000)


class DelegationIn(BaseModel):
    """Out of office from ``starts_at`` until ``ends_at``; ``user_id`` defaults
    to the caller (admins and people above a user may set theirs)."""

    model_config = ConfigDict(extra="forbid")

    delegate_id: int
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    user_id: int | None = None
    reason: FreeText | None = Field(default=None, max_length=500)


class DelegationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int
    delegate_id: int
    starts_at: datetime
    ends_at: datetime
    reason: str | None
    created_by_id: int
    created_at: datetime
    revoked_at: datetime | None


def delegation_json(delegation: Delegation) -> dict[str, Any]:
    return DelegationOut.model_validate(delegation).model_dump(mode="json")
