"""Who a step's work goes to: the policy's approver, resolved to people.

Segregation of duties is applied here as well as at decision time, so an
inbox never shows work its holder would be refused: the requester, anyone who
reports to the requester and anyone who already approved another step of the
same request are left out. Delegation follows the out-of-office settings of
each person found; a delegate who may not decide the credit is passed over
and the work stays with the original approver."""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from creditdesk.access.service import GRANTS, Permission
from creditdesk.access.visibility import reports_to
from creditdesk.approvals.models import (
    ApprovalStep,
    Delegation,
    WorkItem,
    WorkItemStatus,
)
from creditdesk.credits.models import BillingCredit
from creditdesk.policy.chains import Approver, ApproverKind
from creditdesk.users.models import Role, User

log = structlog.get_logger(__name__)

DECIDING_ROLES = GRANTS[Permission.DECIDE_APPROVALS]

# Where work goes when the policy's approver cannot be found.
FALLBACK = Approver(kind=ApproverKind.QUEUE, role=Role.MANAGER)

# A delegate's own delegate is followed this far, then the chain stops.
_MAX_DELEGATION_HOPS = 5


@dataclass(frozen=True, slots=True)
class Target:
    """One work item to create: for a person, or open to a whole queue."""

    user: User | None
    queue_role: str | None
    original: User | None
    origin: str


def may_decide(
    session: Session, user: User, credit: BillingCredit, step: ApprovalStep
) -> str | None:
    """The duty ``user`` would break by deciding ``step``, or None."""
    if not user.is_active or user.role not in DECIDING_ROLES:
        return "not_approver"
    if user.id == credit.requested_by_id:
        return "own_credit"
    if reports_to(session, user.id, credit.requested_by_id):
        return "reports_to_requester"
    if approved_other_step(session, user.id, step):
        return "two_steps"
    return None


def approved_other_step(session: Session, user_id: int, step: ApprovalStep) -> bool:
    """Whether ``user_id`` approved a different step of the same request."""
    found = session.scalar(
        sa.select(WorkItem.id)
        .join(ApprovalStep, ApprovalStep.id == WorkItem.step_id)
        .where(
            ApprovalStep.request_id == step.request_id,
            ApprovalStep.sequence != step.sequence,
            WorkItem.decided_by_id == user_id,
            WorkItem.status == WorkItemStatus.APPROVED,
        )
        .limit(1)
    )
    return found is not None


def everyone_must_approve(step: ApprovalStep, item: WorkItem) -> bool:
    """Whether ``item``'s approval leaves ``step`` waiting for the others.

    An ``all`` step asks every person its approver names. Work that fell back
    to the manager queue because none of them could decide belongs to the
    queue instead, and the first manager's answer settles it.
    """
    if step.mode != "all":
        return False
    approver = Approver.model_validate(step.config["approver"])
    return approver.kind is ApproverKind.QUEUE or item.queue_role is None


def targets(
    session: Session,
    approver: Approver,
    *,
    credit: BillingCredit,
    step: ApprovalStep,
    holder: User | None = None,
    now: datetime,
    origin: str = "policy",
) -> list[Target]:
    """The work items ``approver`` stands for on ``step``, after duties and
    delegation; the manager queue when nobody suitable is found."""
    people = _people(session, approver, credit=credit, holder=holder)
    if approver.kind is ApproverKind.QUEUE:
        return _queue_targets(session, approver, people, credit, step, now, origin)

    eligible = [p for p in people if may_decide(session, p, credit, step) is None]
    if not eligible:
        log.info("approval.approver_missing", step_id=step.id, approver=approver.label)
        # Keep the origin: an escalation that lands on the queue is still one.
        return targets(
            session, FALLBACK, credit=credit, step=step, now=now, origin=origin
        )
    return [_delegated(session, p, credit, step, now, origin) for p in eligible]


def _queue_targets(
    session: Session,
    approver: Approver,
    members: list[User],
    credit: BillingCredit,
    step: ApprovalStep,
    now: datetime,
    origin: str,
) -> list[Target]:
    role = str(approver.role)
    eligible = [m for m in members if may_decide(session, m, credit, step) is None]
    if not eligible:
        # Nobody can take it today: one item open to the queue, so whoever
        # joins the role (or is reassigned it) can.
        return [Target(None, role, None, origin)]
    found = [_delegated(session, m, credit, step, now, origin) for m in eligible]
    return [Target(t.user, role, t.original, t.origin) for t in _unique(found)]


def _unique(found: list[Target]) -> list[Target]:
    # Two members delegating to the same person give that person one item.
    seen: set[int] = set()
    kept = []
    for target in found:
        key = target.user.id if target.user else 0
        if key not in seen:
            seen.add(key)
            kept.append(target)
    return kept


def _people(
    session: Session,
    approver: Approver,
    *,
    credit: BillingCredit,
    holder: User | None,
) -> list[User]:
    kind = approver.kind
    if kind is ApproverKind.QUEUE:
        return list(
            session.scalars(
                sa.select(User)
                .where(User.role == approver.role, User.is_active.is_(True))
                .order_by(User.id)
            )
        )
    if kind is ApproverKind.MANAGER:
        requester = session.get(User, credit.requested_by_id)
        found = manager_at(session, requester, approver.level)
        return [found] if found else []
    if kind is ApproverKind.APPROVER_MANAGER:
        # The top of the line has no manager; asking get() for a NULL key
        # warns and is slated to raise.
        if holder is None or holder.manager_id is None:
            return []
        found = session.get(User, holder.manager_id)
        return [found] if found and found.manager_id != found.id else []
    names = list(approver.users)
    rows = session.scalars(sa.select(User).where(User.username.in_(names)))
    by_name = {user.username: user for user in rows}
    return [by_name[name] for name in names if name in by_name]


def manager_at(session: Session, user: User | None, levels: int) -> User | None:
    """``user``'s manager ``levels`` up the hierarchy, or None past its top."""
    current = user
    for _ in range(levels):
        if current is None or current.manager_id is None:
            return None
        current = session.get(User, current.manager_id)
    return current


def _delegated(
    session: Session,
    person: User,
    credit: BillingCredit,
    step: ApprovalStep,
    now: datetime,
    origin: str,
) -> Target:
    delegate = person
    seen = {person.id}
    for _ in range(_MAX_DELEGATION_HOPS):
        found = active_delegate(session, delegate.id, now)
        if found is None or found.id in seen:
            break
        seen.add(found.id)
        delegate = found

    if delegate is person:
        return Target(person, None, person, origin)
    duty = may_decide(session, delegate, credit, step)
    if duty is not None:
        log.info(
            "approval.delegate_passed_over",
            user_id=person.id,
            delegate_id=delegate.id,
            duty=duty,
        )
        return Target(person, None, person, origin)
    return Target(delegate, None, person, "delegation")


def active_delegate(session: Session, user_id: int, now: datetime) -> User | None:
    """The person standing in for ``user_id`` at ``now``, if any."""
    query = (
        sa.select(User)
        .join(Delegation, Delegation.delegate_id == User.id)
        .where(
            Delegation.user_id == user_id,
            Delegation.revoked_at.is_(None),
            Delegation.starts_at <= now,
            Delegation.ends_at > now,
            User.is_active.is_(True),
        )
        .order_by(Delegation.starts_at.desc())
        .limit(1)
    )
    return session.scalars(query).first()
