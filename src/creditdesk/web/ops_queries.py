"""What the billing-operations pages read: failed postings and dead letters,
each with the credit it concerns, in a few queries however many rows.

Only finance and administrators get here (``outbox.operations`` checks);
credits are still filtered by ``access.visibility`` and shaped by the
caller's field levels, so an override that hides a field hides it here too.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from creditdesk.access import visibility
from creditdesk.access.fields import FieldView
from creditdesk.accounts.models import Account
from creditdesk.approvals.models import OPEN_ITEM, WorkItem, WorkItemKind
from creditdesk.credits.models import BillingCredit, CreditStatus, format_number
from creditdesk.credits.schemas import CreditOut
from creditdesk.credits.service import POST_TOPIC
from creditdesk.events.service import TOPIC as EVENT_DELIVER
from creditdesk.outbox import operations
from creditdesk.outbox.models import OutboxMessage, OutboxStatus
from creditdesk.outbox.registry import CREDIT_POST, CREDIT_VOID, NOTIFICATION_EMAIL
from creditdesk.users.models import User
from creditdesk.web.queries import accounts_of, names_of

FAILED_ROWS = 100
DEAD_ROWS = 50
TOPICS = (CREDIT_POST, CREDIT_VOID, EVENT_DELIVER, NOTIFICATION_EMAIL)
RETRYABLE = frozenset({OutboxStatus.DEAD})
CANCELLABLE = frozenset({OutboxStatus.PENDING, OutboxStatus.DEAD})


@dataclass(frozen=True, slots=True)
class FailedPosting:
    """A credit whose posting failed for good, and what waits on it."""

    credit: CreditOut
    account: Account
    message: OutboxMessage | None
    holders: list[str]
    due_at: datetime | None


@dataclass(frozen=True, slots=True)
class CreditLink:
    id: int
    number: str


def failed_postings(
    session: Session, user: User, view: FieldView
) -> list[FailedPosting]:
    """Credits in ``posting_failed`` the user may see, newest first, with
    their latest ``credit.post`` message and the open billing-operations
    work items (who holds them, when they fall due)."""
    operations.require_operator(user)
    credits = list(
        session.scalars(
            sa.select(BillingCredit)
            .where(
                BillingCredit.status == CreditStatus.POSTING_FAILED,
                visibility.credit_visible(session, user),
            )
            .order_by(BillingCredit.id.desc())
            .limit(FAILED_ROWS)
        )
    )
    ids = [credit.id for credit in credits]
    messages = _post_messages(session, ids)
    items = _open_handoffs(session, ids)
    holders = [i.assignee_id for found in items.values() for i in found]
    names = names_of(session, holders)
    accounts = accounts_of(session, [credit.account_id for credit in credits])

    rows = []
    for credit in credits:
        waiting = items.get(credit.id, [])
        rows.append(
            FailedPosting(
                credit=CreditOut.of(credit, view),
                account=accounts[credit.account_id],
                message=messages.get(credit.id),
                holders=_holders(waiting, names),
                due_at=min((i.due_at for i in waiting if i.due_at), default=None),
            )
        )
    return rows


def dead_letters(
    session: Session, user: User, *, topic: str | None, before_id: int | None
) -> list[OutboxMessage]:
    """One page of dead messages, newest first (the operations service)."""
    return operations.list_messages(
        session,
        user=user,
        status=OutboxStatus.DEAD,
        topic=topic,
        before_id=before_id,
        limit=DEAD_ROWS,
    )


def credit_links(
    session: Session, user: User, messages: Iterable[OutboxMessage]
) -> dict[int, CreditLink]:
    """The credit each message concerns, by message id, where the user may
    see it; a message about a hidden credit names none."""
    wanted = {m.id: credit_id_of(m) for m in messages}
    ids = {credit_id for credit_id in wanted.values() if credit_id is not None}
    if not ids:
        return {}
    visible = session.scalars(
        sa.select(BillingCredit.id).where(
            BillingCredit.id.in_(ids), visibility.credit_visible(session, user)
        )
    )
    links = {c: CreditLink(c, format_number(c)) for c in visible}
    return {m: links[c] for m, c in wanted.items() if c in links}


def credit_id_of(message: OutboxMessage) -> int | None:
    """The credit a message's payload names, if any."""
    credit_id = message.payload.get("credit_id")
    return credit_id if isinstance(credit_id, int) else None


def payload_text(message: OutboxMessage) -> str:
    """The payload as indented JSON, keys sorted, for people to read."""
    return json.dumps(message.payload, indent=2, sort_keys=True, ensure_ascii=False)


def _post_messages(session: Session, credit_ids: list[int]) -> dict[int, OutboxMessage]:
    if not credit_ids:
        return {}
    credit_of = OutboxMessage.payload["credit_id"].as_integer()
    rows = session.execute(
        sa.select(credit_of, OutboxMessage)
        .where(OutboxMessage.topic == POST_TOPIC, credit_of.in_(credit_ids))
        .order_by(OutboxMessage.id)
    )
    # Later messages overwrite earlier ones: the latest posting attempt wins.
    return dict(rows.all())


def _open_handoffs(
    session: Session, credit_ids: list[int]
) -> dict[int, list[WorkItem]]:
    found: dict[int, list[WorkItem]] = {}
    if not credit_ids:
        return found
    items = session.scalars(
        sa.select(WorkItem)
        .where(
            WorkItem.credit_id.in_(credit_ids),
            WorkItem.kind == WorkItemKind.POSTING_FAILED,
            WorkItem.status == OPEN_ITEM,
        )
        .order_by(WorkItem.id)
    )
    for item in items:
        found.setdefault(item.credit_id, []).append(item)
    return found


def _holders(items: list[WorkItem], names: dict[int, str]) -> list[str]:
    holders = []
    for item in items:
        if item.assignee_id is not None:
            holders.append(names.get(item.assignee_id, f"user {item.assignee_id}"))
        elif item.queue_role:
            holders.append(f"the {item.queue_role} queue")
    return holders
