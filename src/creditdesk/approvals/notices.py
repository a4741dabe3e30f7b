"""What the people holding work items are told, and when.

Each notice is queued in the outbox with the change that caused it, so
nobody hears of an assignment that was rolled back. Amounts are included only
for a recipient whose role may read them.
"""

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from creditdesk.access.fields import view_for
from creditdesk.approvals.models import WorkItem, WorkItemKind
from creditdesk.cases.models import Case
from creditdesk.config import Settings
from creditdesk.credits.models import BillingCredit
from creditdesk.money import format_amount
from creditdesk.notifications.service import NotificationEvent, notify
from creditdesk.users.models import User

_KIND_NAMES = {
    WorkItemKind.APPROVAL: "approval",
    WorkItemKind.MORE_INFO: "more information",
    WorkItemKind.REJECTED: "rejected credit",
    WorkItemKind.POSTING_FAILED: "posting failed",
}


def assigned(
    session: Session,
    item: WorkItem,
    credit: BillingCredit,
    *,
    now: datetime,
    settings: Settings,
) -> None:
    _tell_holder(session, item, credit, NotificationEvent.ASSIGNED, now, settings)


def reminder(
    session: Session,
    item: WorkItem,
    credit: BillingCredit,
    *,
    now: datetime,
    settings: Settings,
) -> None:
    _tell_holder(session, item, credit, NotificationEvent.REMINDER, now, settings)


def escalated(
    session: Session,
    item: WorkItem,
    credit: BillingCredit,
    *,
    now: datetime,
    settings: Settings,
) -> None:
    _tell_holder(session, item, credit, NotificationEvent.ESCALATED, now, settings)


def decided(
    session: Session,
    item: WorkItem,
    credit: BillingCredit,
    *,
    approved: bool,
    now: datetime,
    settings: Settings,
) -> None:
    """The requester hears of every decision on their credit."""
    requester = session.get(User, credit.requested_by_id)
    actor = session.get(User, item.decided_by_id) if item.decided_by_id else None
    if requester is None:
        return
    context = _context(session, requester, item, credit)
    context["actor_name"] = actor.display_name if actor else None
    context["decision"] = "approved" if approved else "rejected"
    notify(
        session,
        recipient=requester,
        event=NotificationEvent.DECIDED,
        context=context,
        now=now,
        settings=settings,
    )


def _tell_holder(
    session: Session,
    item: WorkItem,
    credit: BillingCredit,
    event: NotificationEvent,
    now: datetime,
    settings: Settings,
) -> None:
    # An item open to a whole queue has nobody to address yet.
    if item.assignee_id is None:
        return
    holder = session.get(User, item.assignee_id)
    if holder is None:
        return
    notify(
        session,
        recipient=holder,
        event=event,
        context=_context(session, holder, item, credit),
        now=now,
        settings=settings,
    )


def _context(
    session: Session, recipient: User, item: WorkItem, credit: BillingCredit
) -> dict[str, Any]:
    case = session.get(Case, credit.case_id)
    view = view_for(session, recipient)
    amount = comment = None
    if view.can_read("amount"):
        amount = (
            f"{credit.currency} {format_amount(credit.amount_minor, credit.currency)}"
        )
    if item.comment:
        comment = view.mask_text(item.comment)
    return {
        "recipient_name": recipient.display_name,
        "credit_number": credit.number,
        "case_number": case.number if case else None,
        "case_subject": case.subject if case else None,
        "item_kind": _KIND_NAMES[item.kind],
        "due_at": item.due_at,
        "actor_name": None,
        "decision": None,
        "comment": comment,
        "amount": amount,
        "link": f"/credits/{credit.number}",
    }
