"""What people do with work items besides deciding them: list, claim,
reassign.

Every item is reached through its credit, so a caller who may not see the
credit is told the item does not exist, exactly as for the credit itself.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from creditdesk.access import visibility
from creditdesk.access.duties import require_writer
from creditdesk.actors import Actor
from creditdesk.approvals import assign, items
from creditdesk.approvals.assign import Target
from creditdesk.approvals.handoffs import BILLING_OPERATIONS, HANDOFF_KINDS
from creditdesk.approvals.models import (
    WorkItem,
    WorkItemKind,
    WorkItemStatus,
)
from creditdesk.audit import service as audit
from creditdesk.config import Settings
from creditdesk.credits.models import BillingCredit
from creditdesk.errors import Forbidden, InvalidState, NotFound, ValidationFailed
from creditdesk.users.models import Role, User

log = structlog.get_logger(__name__)

# Who may move a pending item to somebody else.
REASSIGNERS = frozenset({Role.TEAM_LEAD, Role.MANAGER, Role.ADMIN})


class Assigned(StrEnum):
    ME = "me"  # mine: assigned, delegated, reassigned or claimed
    QUEUE = "queue"  # reached me through a queue and not claimed yet


@dataclass(frozen=True, slots=True)
class ItemFilters:
    assigned: Assigned | None = None
    status: WorkItemStatus | None = WorkItemStatus.PENDING
    kind: WorkItemKind | None = None


def list_items(
    session: Session,
    *,
    user: User,
    filters: ItemFilters,
    after_id: int | None,
    limit: int,
) -> list[tuple[WorkItem, BillingCredit]]:
    """The caller's items, oldest first, each with its credit."""
    query = (
        sa.select(WorkItem, BillingCredit)
        .join(BillingCredit, BillingCredit.id == WorkItem.credit_id)
        .where(_held(user, filters.assigned))
    )
    if filters.status is not None:
        query = query.where(WorkItem.status == filters.status)
    if filters.kind is not None:
        query = query.where(WorkItem.kind == filters.kind)
    if after_id is not None:
        query = query.where(WorkItem.id > after_id)
    query = query.order_by(WorkItem.id).limit(limit)
    return [(item, credit) for item, credit in session.execute(query)]


def _held(user: User, assigned: Assigned | None) -> sa.ColumnElement[bool]:
    mine = sa.and_(
        WorkItem.assignee_id == user.id,
        sa.or_(WorkItem.queue_role.is_(None), WorkItem.claimed_at.is_not(None)),
    )
    through_queue = sa.or_(
        sa.and_(
            WorkItem.assignee_id == user.id,
            WorkItem.queue_role.is_not(None),
            WorkItem.claimed_at.is_(None),
        ),
        sa.and_(
            WorkItem.assignee_id.is_(None),
            WorkItem.queue_role == user.role.value,
        ),
    )
    if assigned is Assigned.ME:
        return mine
    if assigned is Assigned.QUEUE:
        return through_queue
    return sa.or_(mine, through_queue)


def load_item(
    session: Session, user: User, item_id: int, *, for_update: bool = False
) -> tuple[WorkItem, BillingCredit]:
    """The item and its credit (row-locked with ``for_update``); 404 unless
    the caller may see the credit."""
    item = session.get(WorkItem, item_id)
    if item is None:
        raise NotFound(f"work item {item_id} does not exist")
    try:
        credit = visibility.load_credit(
            session, user, item.credit_id, for_update=for_update
        )
    except NotFound:
        raise NotFound(f"work item {item_id} does not exist") from None
    if for_update:
        session.refresh(item)
    return item, credit


def claim(
    session: Session, *, item_id: int, user: User, actor: Actor, now: datetime
) -> WorkItem:
    """Take a queue item: it becomes the caller's, and the other members'
    copies close as ``no_response``."""
    require_writer(user, "claim work items")
    item, credit = load_item(session, user, item_id, for_update=True)
    if not item.is_open:
        raise InvalidState(f"work item {item.id} is already {item.status.value}")
    if item.queue_role is None or item.claimed_at is not None:
        raise InvalidState(f"work item {item.id} is not waiting in a queue")
    if not items.holds(item, user):
        raise Forbidden("this work item is in a queue you are not a member of")
    if item.step is not None:
        duty = assign.may_decide(session, user, credit, item.step)
        if duty is not None:
            raise Forbidden(
                "you may not decide this credit, so you may not claim it",
                extra={"rule": duty},
            )

    item.assignee_id = user.id
    item.claimed_at = now
    released = items.close_siblings(session, item, now=now)
    audit.record(
        session,
        actor=actor,
        action="work_item.claimed",
        entity_type="credit",
        entity_id=credit.id,
        changes={
            "work_item": (None, item.id),
            "assignee_id": (None, user.id),
            "released": (None, released),
        },
        now=now,
    )
    return item


def reassign(
    session: Session,
    *,
    item_id: int,
    to_user_id: int,
    user: User,
    comment: str | None,
    actor: Actor,
    now: datetime,
    settings: Settings,
) -> WorkItem:
    """Team leads, managers and admins move a pending item to another person.

    The new holder must be allowed to do the work: for an approval, the
    segregation of duties hold for them as for anyone.
    """
    require_writer(user, "reassign work items")
    if user.role not in REASSIGNERS:
        raise Forbidden("only team leads, managers and administrators reassign work")
    item, credit = load_item(session, user, item_id, for_update=True)
    if not item.is_open:
        raise InvalidState(f"work item {item.id} is already {item.status.value}")
    if item.step is not None and user.id == credit.requested_by_id:
        # Choosing one's own approver would undo the duty not to decide it.
        raise Forbidden(
            "nobody reassigns the approval of a credit they requested",
            extra={"rule": "own_credit"},
        )
    target = _reassign_target(session, item, credit, to_user_id)

    items.close(item, WorkItemStatus.REASSIGNED, now=now, by=user, comment=comment)
    (new,) = items.open_items(
        session,
        credit=credit,
        kind=item.kind,
        found=[Target(target, None, target, "reassigned")],
        step=item.step,
        comment=comment,
        actor=actor,
        now=now,
        settings=settings,
    )
    audit.record(
        session,
        actor=actor,
        action="work_item.reassigned",
        entity_type="credit",
        entity_id=credit.id,
        changes={
            "work_item": (item.id, new.id),
            "assignee_id": (item.assignee_id, target.id),
        },
        reason=comment,
        now=now,
    )
    return new


def _reassign_target(
    session: Session, item: WorkItem, credit: BillingCredit, to_user_id: int
) -> User:
    target = session.get(User, to_user_id)
    if target is None or not target.is_active:
        raise ValidationFailed.on("assignee_id", f"no active user {to_user_id}")
    if target.id == item.assignee_id:
        raise ValidationFailed.on("assignee_id", "the item is already theirs")
    # A second copy of the same work would let one person count twice
    # towards a step every member must approve.
    if any(
        other.assignee_id == target.id for other in items.open_siblings(session, item)
    ):
        raise ValidationFailed.on(
            "assignee_id", f"{target.username} already holds this work"
        )
    if item.step is not None:
        duty = assign.may_decide(session, target, credit, item.step)
        if duty is not None:
            raise Forbidden(
                f"{target.username} may not decide this credit",
                extra={"rule": duty},
            )
    elif item.kind is WorkItemKind.POSTING_FAILED:
        if target.role is not BILLING_OPERATIONS:
            raise ValidationFailed.on(
                "assignee_id", "failed postings go to billing operations (finance)"
            )
    elif item.kind in HANDOFF_KINDS and target.role not in (
        Role.AGENT,
        Role.TEAM_LEAD,
        Role.MANAGER,
    ):
        raise ValidationFailed.on("assignee_id", "hand this back to an agent")
    return target
