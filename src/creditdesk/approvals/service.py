"""Approval chains: open them, decide their steps, send them back, recall them.

A chain comes from the policy's band as a list of steps. Only the first step
is active at first; each approval activates the next, and the last one
approves the credit. Callers hold the credit's row lock (see
``credits.lifecycle.load_for_update``), so of two decisions on one credit the
second sees the first's result.
"""

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from creditdesk.actors import Actor
from creditdesk.approvals import assign, items, notices
from creditdesk.approvals.models import (
    ApprovalRequest,
    ApprovalStep,
    RequestStatus,
    StepStatus,
    WorkItem,
    WorkItemKind,
    WorkItemStatus,
)
from creditdesk.audit import service as audit
from creditdesk.config import Settings
from creditdesk.credits.models import BillingCredit
from creditdesk.errors import InvalidState
from creditdesk.policy.chains import ApprovalTimings, Approver, StepSpec, step_config
from creditdesk.users.models import User


class ChainOutcome(StrEnum):
    CONTINUES = "continues"  # another approval is still needed
    APPROVED = "approved"  # every step approved: approve the credit
    REJECTED = "rejected"  # the credit is rejected
    RETURNED = "returned"  # back to the agent to edit and resubmit


def open_request(
    session: Session,
    *,
    credit: BillingCredit,
    steps: list[StepSpec],
    timings: ApprovalTimings,
    actor: Actor,
    now: datetime,
    settings: Settings,
) -> ApprovalRequest:
    """Create the chain and assign its first step."""
    request = ApprovalRequest(
        credit_id=credit.id, status=RequestStatus.PENDING, created_at=now
    )
    session.add(request)
    if credit.approval_requested_at is None:
        # Kept from the first request on (a resubmitted credit's turnaround
        # still runs from it), for the approval report.
        credit.approval_requested_at = now
    session.flush()

    for sequence, spec in enumerate(steps, start=1):
        session.add(
            ApprovalStep(
                request_id=request.id,
                credit_id=credit.id,
                sequence=sequence,
                kind=spec.label,
                mode=spec.effective_mode.value,
                config=step_config(spec, timings),
                status=StepStatus.WAITING,
                created_at=now,
            )
        )
    session.flush()
    session.refresh(request, ["steps"])

    audit.record(
        session,
        actor=actor,
        action="approval.requested",
        entity_type="credit",
        entity_id=credit.id,
        changes={"approval_steps": (None, [spec.label for spec in steps])},
        now=now,
    )
    activate(session, request.steps[0], credit, actor=actor, now=now, settings=settings)
    return request


def activate(
    session: Session,
    step: ApprovalStep,
    credit: BillingCredit,
    *,
    actor: Actor,
    now: datetime,
    settings: Settings,
) -> list[WorkItem]:
    """Make ``step`` the one awaiting decisions and hand out its items."""
    step.status = StepStatus.PENDING
    step.assigned_at = now
    step.decided_at = None
    step.acting_approver_id = None
    approver = Approver.model_validate(step.config["approver"])
    found = assign.targets(session, approver, credit=credit, step=step, now=now)
    return items.open_items(
        session,
        credit=credit,
        kind=WorkItemKind.APPROVAL,
        found=found,
        step=step,
        actor=actor,
        now=now,
        settings=settings,
    )


def steps_of(session: Session, credit_id: int) -> list[ApprovalStep]:
    return list(
        session.scalars(
            sa.select(ApprovalStep)
            .where(ApprovalStep.credit_id == credit_id)
            .order_by(ApprovalStep.request_id, ApprovalStep.sequence)
        )
    )


def current_step(session: Session, credit_id: int) -> ApprovalStep | None:
    return session.scalars(
        sa.select(ApprovalStep)
        .where(
            ApprovalStep.credit_id == credit_id,
            ApprovalStep.status == StepStatus.PENDING,
        )
        .order_by(ApprovalStep.id)
        .limit(1)
    ).first()


def decide(
    session: Session,
    *,
    credit: BillingCredit,
    item: WorkItem,
    approve: bool,
    user: User,
    comment: str | None,
    actor: Actor,
    now: datetime,
    settings: Settings,
) -> ChainOutcome:
    """Record ``user``'s decision on ``item`` and move the chain on."""
    step = _open_step(item)

    status = WorkItemStatus.APPROVED if approve else WorkItemStatus.REJECTED
    item.assignee_id = item.assignee_id or user.id
    items.close(item, status, now=now, by=user, comment=comment)
    _audit_decision(session, step, item, approve, actor=actor, now=now)
    notices.decided(session, item, credit, approved=approve, now=now, settings=settings)

    if approve:
        return _after_approval(
            session, step, item, credit, actor=actor, now=now, settings=settings
        )
    items.close_siblings(session, item, now=now)
    if step.config.get("on_reject") == "back":
        return _send_back(
            session,
            step,
            credit,
            user,
            comment,
            actor=actor,
            now=now,
            settings=settings,
        )
    _settle(step, StepStatus.REJECTED, user, comment, now)
    _close_request(step.request, RequestStatus.REJECTED, now)
    return ChainOutcome.REJECTED


def _open_step(item: WorkItem) -> ApprovalStep:
    step = item.step
    if step is None or step.status != StepStatus.PENDING or not item.is_open:
        raise InvalidState("this approval step has already been decided")
    return step


def _audit_decision(
    session: Session,
    step: ApprovalStep,
    item: WorkItem,
    approve: bool,
    *,
    actor: Actor,
    now: datetime,
) -> None:
    audit.record(
        session,
        actor=actor,
        action="approval.step_approved" if approve else "approval.step_rejected",
        entity_type="credit",
        entity_id=step.credit_id,
        changes={
            "step": (None, step.sequence),
            "kind": (None, step.kind),
            "work_item": (None, item.id),
            "item_status": (WorkItemStatus.PENDING, item.status),
        },
        reason=item.comment,
        now=now,
    )


def _after_approval(
    session: Session,
    step: ApprovalStep,
    item: WorkItem,
    credit: BillingCredit,
    *,
    actor: Actor,
    now: datetime,
    settings: Settings,
) -> ChainOutcome:
    user_id = item.decided_by_id
    if assign.everyone_must_approve(step, item) and items.open_siblings(session, item):
        return ChainOutcome.CONTINUES
    items.close_siblings(session, item, now=now)
    step.status = StepStatus.APPROVED
    step.acting_approver_id = user_id
    step.comment = item.comment
    step.decided_at = now

    later = [s for s in step.request.steps if s.status == StepStatus.WAITING]
    if later:
        activate(session, later[0], credit, actor=actor, now=now, settings=settings)
        return ChainOutcome.CONTINUES
    _close_request(step.request, RequestStatus.APPROVED, now)
    return ChainOutcome.APPROVED


def _send_back(
    session: Session,
    step: ApprovalStep,
    credit: BillingCredit,
    user: User,
    comment: str | None,
    *,
    actor: Actor,
    now: datetime,
    settings: Settings,
) -> ChainOutcome:
    """A rejection that asks the previous step (or, at the first step, the
    agent) to look again instead of ending the request."""
    earlier = [s for s in step.request.steps if s.sequence < step.sequence]
    if not earlier:
        _settle(step, StepStatus.RETURNED, user, comment, now)
        _close_request(step.request, RequestStatus.RETURNED, now)
        return ChainOutcome.RETURNED

    previous = earlier[-1]
    audit.record(
        session,
        actor=actor,
        action="approval.sent_back",
        entity_type="credit",
        entity_id=credit.id,
        changes={"step": (step.sequence, previous.sequence)},
        reason=comment,
        now=now,
    )
    # This step waits again and is re-assigned once the previous one approves.
    step.status = StepStatus.WAITING
    activate(session, previous, credit, actor=actor, now=now, settings=settings)
    return ChainOutcome.CONTINUES


def return_to_agent(
    session: Session,
    *,
    item: WorkItem,
    user: User,
    comment: str,
    actor: Actor,
    now: datetime,
) -> None:
    """The approver asks for more information: the request ends as
    ``returned`` and the agent will resubmit into a new one."""
    step = _open_step(item)
    items.close(item, WorkItemStatus.DONE, now=now, by=user, comment=comment)
    items.close_siblings(session, item, now=now)
    _settle(step, StepStatus.RETURNED, user, comment, now)
    _close_request(step.request, RequestStatus.RETURNED, now)
    audit.record(
        session,
        actor=actor,
        action="approval.info_requested",
        entity_type="credit",
        entity_id=step.credit_id,
        changes={"step": (None, step.sequence), "work_item": (None, item.id)},
        reason=comment,
        now=now,
    )


def recall_request(session: Session, *, credit_id: int, now: datetime) -> None:
    """The requester withdrew the credit: close the chain and its items."""
    request = session.scalars(
        sa.select(ApprovalRequest).where(
            ApprovalRequest.credit_id == credit_id,
            ApprovalRequest.status == RequestStatus.PENDING,
        )
    ).first()
    if request is None:
        return
    for step in request.steps:
        if step.status in (StepStatus.PENDING, StepStatus.WAITING):
            step.status = StepStatus.RECALLED
            step.decided_at = now
    for item in items.open_items_of(session, credit_id, kinds=[WorkItemKind.APPROVAL]):
        items.close(item, WorkItemStatus.RECALLED, now=now)
    request.status = RequestStatus.RECALLED
    request.completed_at = now


def _settle(
    step: ApprovalStep,
    status: StepStatus,
    user: User,
    comment: str | None,
    now: datetime,
) -> None:
    step.status = status
    step.acting_approver_id = user.id
    step.comment = comment
    step.decided_at = now


def _close_request(
    request: ApprovalRequest, status: RequestStatus, now: datetime
) -> None:
    for step in request.steps:
        if step.status == StepStatus.WAITING:
            step.status = StepStatus.SKIPPED
    request.status = status
    request.completed_at = now
