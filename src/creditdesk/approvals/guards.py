"""Who may decide which approval item: roles, duties and assignment.

Each refusal is a 403 naming its rule, so the caller knows what to do
instead; a caller overtaken by another member of their group gets 409.
"""

from typing import NoReturn

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from creditdesk.access.duties import require_writer
from creditdesk.access.service import Permission, require
from creditdesk.approvals import assign, items
from creditdesk.approvals.models import WorkItem, WorkItemKind, WorkItemStatus
from creditdesk.approvals.service import current_step
from creditdesk.credits.models import BillingCredit
from creditdesk.errors import Forbidden, InvalidState
from creditdesk.users.models import Role, User

log = structlog.get_logger(__name__)


def require_decider(user: User) -> None:
    """Only approving roles decide; auditors and administrators never do."""
    require_writer(user, "decide approvals")
    if user.role is Role.ADMIN:
        _refuse(user, "admin_not_approver", "administrators do not decide approvals")
    require(user, Permission.DECIDE_APPROVALS)


_DUTY_MESSAGES = {
    "own_credit": "nobody may decide a credit they requested",
    "reports_to_requester": (
        "an approver may not decide a credit requested by someone they report to"
    ),
    "two_steps": "one person may not decide two steps of the same credit",
    "not_approver": "only active team leads, managers and finance decide approvals",
}


def item_to_decide(
    session: Session,
    credit: BillingCredit,
    user: User,
    *,
    item_id: int | None = None,
    expected_step: int | None = None,
) -> WorkItem:
    """The caller's pending approval item on the credit's current step.

    Segregation of duties first, then assignment: each refusal is a 403
    naming its rule, so the caller knows what to do instead.
    """
    step = current_step(session, credit.id)
    if step is None:
        raise InvalidState(f"credit {credit.number} has no step awaiting a decision")
    duty = assign.may_decide(session, user, credit, step)
    if duty is not None:
        _refuse(user, duty, _DUTY_MESSAGES[duty])

    mine = [
        item
        for item in items.open_items_of(session, credit.id)
        if item.step_id == step.id and items.holds(item, user)
    ]
    if item_id is not None:
        mine = [item for item in mine if item.id == item_id]
    if not mine:
        _no_open_item(session, credit, user)
    if expected_step is not None and step.sequence != expected_step:
        raise InvalidState(
            f"step {expected_step} was already decided; step {step.sequence} is "
            "now pending",
            extra={"current_step": step.sequence},
        )
    return mine[0]


def _no_open_item(session: Session, credit: BillingCredit, user: User) -> NoReturn:
    # A member of a group whose copy closed because another member answered
    # lost a race: that is a conflict, not a lack of rights. Work taken away
    # (escalated, reassigned) is simply no longer theirs.
    held = session.scalar(
        sa.select(WorkItem.status)
        .where(
            WorkItem.credit_id == credit.id,
            WorkItem.kind == WorkItemKind.APPROVAL,
            WorkItem.assignee_id == user.id,
        )
        .order_by(WorkItem.id.desc())
        .limit(1)
    )
    if held is WorkItemStatus.NO_RESPONSE:
        raise InvalidState(
            f"your work item on credit {credit.number} is {held.value}: "
            "someone else has acted on it",
            extra={"work_item_status": held.value},
        )
    _refuse(user, "not_assigned", "this approval step is assigned to someone else")


def _refuse(user: User, rule: str, message: str) -> NoReturn:
    log.warning("approval.refused", user_id=user.id, rule=rule)
    raise Forbidden(message, extra={"rule": rule})


def pending_for(session: Session, user: User, *, limit: int = 200) -> list:
    """The caller's pending approval items with their credits, oldest first."""
    query = (
        sa.select(WorkItem, BillingCredit)
        .join(BillingCredit, BillingCredit.id == WorkItem.credit_id)
        .where(
            WorkItem.status == WorkItemStatus.PENDING,
            WorkItem.kind == WorkItemKind.APPROVAL,
            _held_by(user),
        )
        .order_by(WorkItem.assigned_at, WorkItem.id)
        .limit(limit)
    )
    return [(item, credit) for item, credit in session.execute(query)]


def _held_by(user: User) -> sa.ColumnElement[bool]:
    return sa.or_(
        WorkItem.assignee_id == user.id,
        sa.and_(
            WorkItem.assignee_id.is_(None),
            WorkItem.queue_role == user.role.value,
        ),
    )
