"""Handoffs: work that leaves the approval chain for someone to follow up.

A rejected credit goes back to its agent with the reason, a credit returned
for more information goes back to be edited and resubmitted, and a posting
that failed for good goes to the billing-operations queue (the finance
role). They are work items like approval steps, so inboxes, timers and
reports treat them alike.
"""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from creditdesk.actors import Actor
from creditdesk.approvals import items
from creditdesk.approvals.assign import Target
from creditdesk.approvals.models import WorkItem, WorkItemKind, WorkItemStatus
from creditdesk.audit import service as audit
from creditdesk.config import Settings
from creditdesk.credits.models import BillingCredit
from creditdesk.errors import Forbidden, InvalidState
from creditdesk.users.models import Role, User

BILLING_OPERATIONS = Role.FINANCE

HANDOFF_KINDS = frozenset(
    {WorkItemKind.MORE_INFO, WorkItemKind.REJECTED, WorkItemKind.POSTING_FAILED}
)


def to_agent(
    session: Session,
    *,
    credit: BillingCredit,
    kind: WorkItemKind,
    comment: str | None,
    actor: Actor,
    now: datetime,
    settings: Settings,
) -> WorkItem:
    """Give the credit back to the agent who raised it, with the reason."""
    requester = session.get(User, credit.requested_by_id)
    target = Target(requester, None, requester, "handoff")
    (item,) = items.open_items(
        session,
        credit=credit,
        kind=kind,
        found=[target],
        comment=comment,
        actor=actor,
        now=now,
        settings=settings,
    )
    return item


def to_billing_operations(
    session: Session,
    *,
    credit: BillingCredit,
    error: str,
    actor: Actor,
    now: datetime,
    settings: Settings,
) -> list[WorkItem]:
    """A posting failed for good: every billing-operations member is told, and
    the first to act takes it."""
    members = session.scalars(
        sa.select(User)
        .where(User.role == BILLING_OPERATIONS, User.is_active.is_(True))
        .order_by(User.id)
    ).all()
    queue = BILLING_OPERATIONS.value
    found = [Target(m, queue, m, "handoff") for m in members]
    if not found:
        found = [Target(None, queue, None, "handoff")]
    return items.open_items(
        session,
        credit=credit,
        kind=WorkItemKind.POSTING_FAILED,
        found=found,
        comment=error,
        actor=actor,
        now=now,
        settings=settings,
    )


def complete(
    session: Session,
    *,
    item: WorkItem,
    user: User,
    comment: str | None,
    actor: Actor,
    now: datetime,
) -> WorkItem:
    """The holder says a handoff is dealt with; the rest of its queue is
    released."""
    if item.kind not in HANDOFF_KINDS:
        raise InvalidState("approval items are decided: approve or reject them")
    if item.kind is WorkItemKind.MORE_INFO:
        raise InvalidState("resubmit the credit to finish a request for information")
    if not item.is_open:
        raise InvalidState(f"work item {item.id} is already {item.status.value}")
    if not items.holds(item, user):
        raise Forbidden("this work item is assigned to someone else")

    item.assignee_id = item.assignee_id or user.id
    items.close(item, WorkItemStatus.DONE, now=now, by=user, comment=comment)
    items.close_siblings(session, item, now=now)
    _audit_done(session, item, actor=actor, now=now)
    return item


def finish_open(
    session: Session,
    credit_id: int,
    kind: WorkItemKind,
    *,
    user: User | None,
    actor: Actor,
    now: datetime,
) -> None:
    """Close the open handoffs of ``kind`` once what they asked for happened
    (the credit was resubmitted, or its posting went through)."""
    pending = items.open_items_of(session, credit_id, kinds=[kind])
    if not pending:
        return
    first = pending[0]
    items.close(first, WorkItemStatus.DONE, now=now, by=user)
    for other in pending[1:]:
        items.close(other, WorkItemStatus.NO_RESPONSE, now=now)
    _audit_done(session, first, actor=actor, now=now)


def _audit_done(
    session: Session, item: WorkItem, *, actor: Actor, now: datetime
) -> None:
    audit.record(
        session,
        actor=actor,
        action="work_item.done",
        entity_type="credit",
        entity_id=item.credit_id,
        changes={
            "work_item": (None, item.id),
            "kind": (None, item.kind.value),
            "item_status": (WorkItemStatus.PENDING, WorkItemStatus.DONE),
        },
        reason=item.comment,
        now=now,
    )
