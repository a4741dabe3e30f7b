"""Sequential approval chains: who decides each step, and recording decisions.

A chain comes from the policy as a list of step kinds. ``manager`` is the
requester's manager, ``manager_2`` the manager's manager and ``finance`` the
finance queue (any finance user). When a manager cannot be found the step goes
to the queue of that role, so a request never waits on nobody.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from creditdesk.access.duties import require_writer
from creditdesk.access.service import Permission, require
from creditdesk.access.visibility import reports_to
from creditdesk.actors import Actor
from creditdesk.approvals.models import (
    ApprovalRequest,
    ApprovalStep,
    RequestStatus,
    StepStatus,
)
from creditdesk.audit import service as audit
from creditdesk.credits.models import BillingCredit
from creditdesk.errors import Forbidden, InvalidState
from creditdesk.users.models import Role, User

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Assignee:
    approver_id: int | None
    queue_role: Role | None


def _manager_at(session: Session, user: User, levels: int) -> User | None:
    current: User | None = user
    for _ in range(levels):
        if current is None or current.manager_id is None:
            return None
        current = session.get(User, current.manager_id)
    return current


def resolve_assignee(session: Session, kind: str, requester: User) -> Assignee:
    if kind == "finance":
        return Assignee(None, Role.FINANCE)
    levels = {"manager": 1, "manager_2": 2}.get(kind)
    if levels is None:
        raise ValueError(f"unknown approval step kind {kind!r}")
    manager = _manager_at(session, requester, levels)
    if manager is None or not manager.is_active or manager.id == requester.id:
        return Assignee(None, Role.MANAGER)
    return Assignee(manager.id, None)


def open_request(
    session: Session,
    *,
    credit: BillingCredit,
    kinds: list[str],
    requester: User,
    actor: Actor,
    now: datetime,
) -> ApprovalRequest:
    """Create the chain; the first step is pending, the rest wait their turn."""
    request = ApprovalRequest(
        credit_id=credit.id, status=RequestStatus.PENDING, created_at=now
    )
    session.add(request)
    session.flush()

    for sequence, kind in enumerate(kinds, start=1):
        assignee = resolve_assignee(session, kind, requester)
        first = sequence == 1
        step = ApprovalStep(
            request_id=request.id,
            credit_id=credit.id,
            sequence=sequence,
            kind=kind,
            approver_id=assignee.approver_id,
            queue_role=assignee.queue_role,
            original_approver_id=assignee.approver_id,
            status=StepStatus.PENDING if first else StepStatus.WAITING,
            assigned_at=now if first else None,
            created_at=now,
        )
        session.add(step)
    session.flush()

    audit.record(
        session,
        actor=actor,
        action="approval.requested",
        entity_type="credit",
        entity_id=credit.id,
        changes={"approval_steps": (None, kinds)},
        now=now,
    )
    return request


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


def is_assigned(step: ApprovalStep, user: User) -> bool:
    if step.approver_id is not None:
        return step.approver_id == user.id
    return step.queue_role is not None and step.queue_role == user.role


def require_decider(user: User) -> None:
    """Only approving roles decide; auditors and administrators never do."""
    require_writer(user, "decide approvals")
    if user.role is Role.ADMIN:
        _refuse(user, "admin_not_approver", "administrators do not decide approvals")
    require(user, Permission.DECIDE_APPROVALS)


def check_may_decide(
    session: Session, credit: BillingCredit, step: ApprovalStep, user: User
) -> None:
    """Segregation of duties, then assignment: raise Forbidden when not allowed.

    Each refusal names its rule, so the caller knows what to do instead.
    """
    if credit.requested_by_id == user.id:
        _refuse(user, "own_credit", "nobody may decide a credit they requested")
    if reports_to(session, user.id, credit.requested_by_id):
        _refuse(
            user,
            "reports_to_requester",
            "an approver may not decide a credit requested by someone they report to",
        )
    if not is_assigned(step, user):
        _refuse(user, "not_assigned", "this approval step is assigned to someone else")
    decided_before = session.scalar(
        sa.select(ApprovalStep.id).where(
            ApprovalStep.credit_id == credit.id,
            ApprovalStep.status == StepStatus.APPROVED,
            ApprovalStep.acting_approver_id == user.id,
        )
    )
    if decided_before is not None:
        _refuse(
            user,
            "two_steps",
            "one person may not decide two steps of the same credit",
        )


def _refuse(user: User, rule: str, message: str) -> NoReturn:
    log.warning("approval.refused", user_id=user.id, rule=rule)
    raise Forbidden(message, extra={"rule": rule})


def decide_step(
    session: Session,
    *,
    step: ApprovalStep,
    approve: bool,
    user: User,
    comment: str | None,
    actor: Actor,
    now: datetime,
) -> bool:
    """Record the decision; return True when the whole chain is now approved."""
    if step.status != StepStatus.PENDING:
        raise InvalidState("this approval step has already been decided")

    step.status = StepStatus.APPROVED if approve else StepStatus.REJECTED
    step.acting_approver_id = user.id
    step.comment = comment
    step.decided_at = now
    audit.record(
        session,
        actor=actor,
        action="approval.step_approved" if approve else "approval.step_rejected",
        entity_type="credit",
        entity_id=step.credit_id,
        changes={
            "step": (None, step.sequence),
            "kind": (None, step.kind),
            "step_status": (StepStatus.PENDING, step.status),
        },
        reason=comment,
        now=now,
    )

    later = [s for s in step.request.steps if s.status == StepStatus.WAITING]
    if not approve:
        _close(step.request, RequestStatus.REJECTED, later, now)
        return False
    if later:
        later[0].status = StepStatus.PENDING
        later[0].assigned_at = now
        return False
    _close(step.request, RequestStatus.APPROVED, [], now)
    return True


def recall_request(session: Session, *, credit_id: int, now: datetime) -> None:
    request = session.scalars(
        sa.select(ApprovalRequest).where(
            ApprovalRequest.credit_id == credit_id,
            ApprovalRequest.status == RequestStatus.PENDING,
        )
    ).first()
    if request is None:
        return
    open_steps = [
        s for s in request.steps if s.status in (StepStatus.PENDING, StepStatus.WAITING)
    ]
    for step in open_steps:
        step.status = StepStatus.RECALLED
        step.decided_at = now
    request.status = RequestStatus.RECALLED
    request.completed_at = now


def _close(
    request: ApprovalRequest,
    status: RequestStatus,
    skipped: list[ApprovalStep],
    now: datetime,
) -> None:
    for step in skipped:
        step.status = StepStatus.SKIPPED
    request.status = status
    request.completed_at = now


def pending_for(session: Session, user: User, *, limit: int = 200) -> list:
    """The caller's pending steps with their credits, oldest first."""
    assigned = sa.or_(
        ApprovalStep.approver_id == user.id,
        sa.and_(
            ApprovalStep.approver_id.is_(None),
            ApprovalStep.queue_role == user.role.value,
        ),
    )
    query = (
        sa.select(ApprovalStep, BillingCredit)
        .join(BillingCredit, BillingCredit.id == ApprovalStep.credit_id)
        .where(ApprovalStep.status == StepStatus.PENDING, assigned)
        .where(BillingCredit.requested_by_id != user.id)
        .order_by(ApprovalStep.assigned_at, ApprovalStep.id)
        .limit(limit)
    )
    return [(step, credit) for step, credit in session.execute(query)]
