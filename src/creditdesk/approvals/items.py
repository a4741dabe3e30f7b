"""Creating and closing work items, the one model for approvals and handoffs.

Every item is opened through ``open_items`` and closed through ``close``, so
due times, elapsed times, notifications and the audit trail are kept the same
way whatever the item is for.
"""

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from creditdesk.actors import Actor
from creditdesk.approvals import deadlines, notices
from creditdesk.approvals.assign import Target
from creditdesk.approvals.models import (
    ApprovalStep,
    WorkItem,
    WorkItemKind,
    WorkItemStatus,
)
from creditdesk.audit import service as audit
from creditdesk.config import Settings
from creditdesk.credits.models import BillingCredit
from creditdesk.users.models import User

log = structlog.get_logger(__name__)


def open_items(
    session: Session,
    *,
    credit: BillingCredit,
    kind: WorkItemKind,
    found: Iterable[Target],
    step: ApprovalStep | None = None,
    comment: str | None = None,
    escalated: bool = False,
    actor: Actor,
    now: datetime,
    settings: Settings,
) -> list[WorkItem]:
    """One pending item per target, timed by the step's policy when it has
    one; the holders are told (that it was escalated to them, when it was),
    and the assignment is audited once."""
    timing = deadlines.NO_DEADLINE
    if step is not None:
        timing = deadlines.timing(session, credit, step.config, now)

    items = []
    for target in found:
        item = WorkItem(
            kind=kind,
            credit_id=credit.id,
            step_id=step.id if step is not None else None,
            assignee_id=target.user.id if target.user else None,
            queue_role=target.queue_role,
            original_assignee_id=target.original.id if target.original else None,
            origin=target.origin,
            status=WorkItemStatus.PENDING,
            assigned_at=now,
            due_at=timing.due_at,
            remind_at=timing.remind_at,
            comment=comment,
            created_at=now,
        )
        session.add(item)
        items.append(item)
    session.flush()

    _audit_assigned(session, credit, kind, step, items, actor=actor, now=now)
    tell = notices.escalated if escalated else notices.assigned
    for item in items:
        tell(session, item, credit, now=now, settings=settings)
    return items


def _audit_assigned(
    session: Session,
    credit: BillingCredit,
    kind: WorkItemKind,
    step: ApprovalStep | None,
    items: list[WorkItem],
    *,
    actor: Actor,
    now: datetime,
) -> None:
    changes: dict[str, tuple[object, object]] = {
        "kind": (None, kind.value),
        "work_items": (None, [item.id for item in items]),
        "assignees": (None, [item.assignee_id for item in items]),
    }
    queues = sorted({item.queue_role for item in items if item.queue_role})
    if queues:
        changes["queue"] = (None, queues)
    if step is not None:
        changes["step"] = (None, step.sequence)
    if items and items[0].due_at is not None:
        changes["due_at"] = (None, items[0].due_at)
    audit.record(
        session,
        actor=actor,
        action="work_item.assigned",
        entity_type="credit",
        entity_id=credit.id,
        changes=changes,
        now=now,
    )


def close(
    item: WorkItem,
    status: WorkItemStatus,
    *,
    now: datetime,
    by: User | None = None,
    comment: str | None = None,
) -> None:
    """Settle one item; the caller audits what the closing meant."""
    item.status = status
    item.decided_at = now
    item.remind_at = None
    if by is not None:
        item.decided_by_id = by.id
    if comment is not None:
        item.comment = comment
    item.elapsed_seconds = max(int((now - item.assigned_at).total_seconds()), 0)


def open_siblings(session: Session, item: WorkItem) -> list[WorkItem]:
    """The other pending items doing the same work as ``item``: its step's
    items, or for a handoff the items of the same kind on the same credit."""
    query = sa.select(WorkItem).where(
        WorkItem.id != item.id,
        WorkItem.status == WorkItemStatus.PENDING,
        WorkItem.credit_id == item.credit_id,
        WorkItem.kind == item.kind,
    )
    if item.step_id is None:
        query = query.where(WorkItem.step_id.is_(None))
    else:
        query = query.where(WorkItem.step_id == item.step_id)
    return list(session.scalars(query))


def close_siblings(session: Session, item: WorkItem, *, now: datetime) -> list[int]:
    """Someone answered for the group: the others' items need no response."""
    closed = []
    for other in open_siblings(session, item):
        close(other, WorkItemStatus.NO_RESPONSE, now=now)
        closed.append(other.id)
    return closed


def open_items_of(
    session: Session, credit_id: int, *, kinds: Iterable[WorkItemKind] | None = None
) -> list[WorkItem]:
    query = sa.select(WorkItem).where(
        WorkItem.credit_id == credit_id, WorkItem.status == WorkItemStatus.PENDING
    )
    if kinds is not None:
        query = query.where(WorkItem.kind.in_(list(kinds)))
    return list(session.scalars(query.order_by(WorkItem.id)))


def items_of(session: Session, credit_id: int) -> list[WorkItem]:
    """Every item of a credit, oldest first, for its history."""
    return list(
        session.scalars(
            sa.select(WorkItem)
            .where(WorkItem.credit_id == credit_id)
            .order_by(WorkItem.id)
        )
    )


def holds(item: WorkItem, user: User) -> bool:
    """Whether ``user`` may act on ``item``: theirs, or open to their queue."""
    if item.assignee_id is not None:
        return item.assignee_id == user.id
    return item.queue_role is not None and item.queue_role == user.role.value


def log_closed(item: WorkItem, event: str) -> None:
    log.info(event, work_item_id=item.id, credit_id=item.credit_id)
