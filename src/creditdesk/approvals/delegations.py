"""Out-of-office delegation: while a user is away, their new work goes to a
delegate, and work already waiting on them moves there when the absence has
begun.

A user sets their own; an administrator, or anyone above them in the
reporting line, may set one for them. Periods of one user never overlap, so
there is never a doubt about who stands in.
"""

from datetime import datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from creditdesk.access.duties import require_writer
from creditdesk.access.visibility import reports_to
from creditdesk.actors import Actor
from creditdesk.approvals import assign, items
from creditdesk.approvals.assign import Target
from creditdesk.approvals.models import (
    Delegation,
    WorkItem,
    WorkItemKind,
    WorkItemStatus,
)
from creditdesk.audit import service as audit
from creditdesk.config import Settings
from creditdesk.credits.models import BillingCredit
from creditdesk.errors import Conflict, Forbidden, NotFound, ValidationFailed
from creditdesk.users.models import Role, User

log = structlog.get_logger(__name__)

ENTITY = "delegation"


def _may_manage(session: Session, actor_user: User, user: User) -> bool:
    if actor_user.id == user.id or actor_user.role is Role.ADMIN:
        return True
    return reports_to(session, user.id, actor_user.id)


def list_delegations(session: Session, *, user: User) -> list[Delegation]:
    """Delegations the caller gave or received, newest first."""
    query = sa.select(Delegation).where(
        sa.or_(Delegation.user_id == user.id, Delegation.delegate_id == user.id)
    )
    return list(session.scalars(query.order_by(Delegation.id.desc())))


def create_delegation(
    session: Session,
    *,
    user: User,
    delegate: User,
    starts_at: datetime,
    ends_at: datetime,
    reason: str | None,
    by: User,
    actor: Actor,
    now: datetime,
    settings: Settings,
) -> Delegation:
    """Record the absence; if it has begun, move the user's open approvals."""
    require_writer(by, "set delegations")
    if not _may_manage(session, by, user):
        raise Forbidden("only the user, someone above them or an admin may do this")
    _check_period(session, user, delegate, starts_at, ends_at, now)

    delegation = Delegation(
        user_id=user.id,
        delegate_id=delegate.id,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason,
        created_by_id=by.id,
        created_at=now,
    )
    session.add(delegation)
    session.flush()
    _audit(session, delegation, "delegation.created", actor=actor, now=now)

    if starts_at <= now:
        _move_open_items(
            session, user, delegate, actor=actor, now=now, settings=settings
        )
    return delegation


def _check_period(
    session: Session,
    user: User,
    delegate: User,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
) -> None:
    if ends_at <= starts_at:
        raise ValidationFailed.on("ends_at", "the period must end after it starts")
    if ends_at <= now:
        raise ValidationFailed.on("ends_at", "the period has already ended")
    if delegate.id == user.id:
        raise ValidationFailed.on("delegate_id", "nobody delegates to themselves")
    if not delegate.is_active:
        raise ValidationFailed.on("delegate_id", f"{delegate.username} is inactive")
    if (
        user.role in assign.DECIDING_ROLES
        and delegate.role not in assign.DECIDING_ROLES
    ):
        raise ValidationFailed.on(
            "delegate_id", f"{delegate.username} may not decide approvals"
        )

    overlapping = session.scalar(
        sa.select(Delegation.id).where(
            Delegation.user_id == user.id,
            Delegation.revoked_at.is_(None),
            Delegation.starts_at < ends_at,
            Delegation.ends_at > starts_at,
        )
    )
    if overlapping is not None:
        raise Conflict(
            f"the period overlaps delegation {overlapping}; revoke it first",
            extra={"delegation_id": overlapping},
        )


def _move_open_items(
    session: Session,
    user: User,
    delegate: User,
    *,
    actor: Actor,
    now: datetime,
    settings: Settings,
) -> None:
    pending = session.scalars(
        sa.select(WorkItem).where(
            WorkItem.assignee_id == user.id,
            WorkItem.status == WorkItemStatus.PENDING,
            WorkItem.kind == WorkItemKind.APPROVAL,
        )
    ).all()
    for item in pending:
        credit = session.get(BillingCredit, item.credit_id)
        duty = assign.may_decide(session, delegate, credit, item.step)
        if duty is not None:
            log.info("approval.delegate_passed_over", work_item_id=item.id, duty=duty)
            continue
        items.close(item, WorkItemStatus.REASSIGNED, now=now, comment="delegated")
        if any(
            o.assignee_id == delegate.id for o in items.open_siblings(session, item)
        ):
            continue  # the delegate holds this step's work already
        queue = None if item.claimed_at is not None else item.queue_role
        items.open_items(
            session,
            credit=credit,
            kind=item.kind,
            # A claimed queue item is the claimant's own: it moves as theirs.
            found=[Target(delegate, queue, user, "delegation")],
            step=item.step,
            actor=actor,
            now=now,
            settings=settings,
        )


def revoke_delegation(
    session: Session,
    *,
    delegation_id: int,
    by: User,
    actor: Actor,
    now: datetime,
) -> Delegation:
    """End a delegation now; items already moved stay with the delegate."""
    require_writer(by, "revoke delegations")
    delegation = session.get(Delegation, delegation_id)
    owner = session.get(User, delegation.user_id) if delegation else None
    if delegation is None or owner is None or not _may_manage(session, by, owner):
        raise NotFound(f"delegation {delegation_id} does not exist")
    if delegation.revoked_at is None:
        delegation.revoked_at = now
        _audit(session, delegation, "delegation.revoked", actor=actor, now=now)
    return delegation


def _audit(
    session: Session,
    delegation: Delegation,
    action: str,
    *,
    actor: Actor,
    now: datetime,
) -> None:
    changes: dict[str, tuple[object, object]] = {
        "user_id": (None, delegation.user_id),
        "delegate_id": (None, delegation.delegate_id),
        "starts_at": (None, delegation.starts_at),
        "ends_at": (None, delegation.ends_at),
    }
    if delegation.revoked_at is not None:
        changes = {"revoked_at": (None, delegation.revoked_at)}
    audit.record(
        session,
        actor=actor,
        action=action,
        entity_type=ENTITY,
        entity_id=delegation.id,
        changes=changes,
        reason=delegation.reason,
        now=now,
    )
