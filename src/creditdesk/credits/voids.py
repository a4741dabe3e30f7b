"""Voiding a credit: finance reverses a posted one, or withdraws a failed one.

A ``posted`` or ``applied`` credit becomes ``voiding`` and its reversal is
queued as ``credit.void`` in the same transaction, so the billing system is
asked to reverse the memo only if the void committed; the worker moves it to
``voided`` once the billing system confirms (``billing.reversals``). A
``posting_failed`` credit has nothing at the billing system to reverse: its
undelivered posting is cancelled and the billing-operations handoff closes.
"""

from datetime import datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from creditdesk.access import visibility
from creditdesk.access.service import Permission, require
from creditdesk.actors import Actor
from creditdesk.approvals import handoffs
from creditdesk.approvals.models import WorkItemKind
from creditdesk.cases import service as cases
from creditdesk.config import Settings
from creditdesk.credits import lifecycle
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.credits.service import POST_TOPIC
from creditdesk.errors import Forbidden, InvalidState
from creditdesk.outbox import service as outbox
from creditdesk.outbox.models import OutboxMessage, OutboxStatus
from creditdesk.users.models import User

log = structlog.get_logger(__name__)

VOID_TOPIC = "credit.void"

_REVERSIBLE = frozenset({CreditStatus.POSTED, CreditStatus.APPLIED})


def void_credit(
    session: Session,
    *,
    credit_id: int,
    user: User,
    justification: str,
    actor: Actor,
    now: datetime,
    settings: Settings,
) -> BillingCredit:
    """Void the credit with ``justification`` (finance only, never one's own).

    A posted or applied credit answers ``voiding`` until the billing system
    has reversed its memo. 404 unless the caller may see the credit, 403 for
    another role or the requester (rule ``own_credit``), 409 naming
    ``credit_status`` unless it is posted, applied or failed its posting.
    """
    credit = visibility.load_credit(session, user, credit_id, for_update=True)
    require(user, Permission.VOID_CREDITS)
    if credit.requested_by_id == user.id:
        log.warning("credit.void_refused", user_id=user.id, rule="own_credit")
        raise Forbidden(
            "nobody may void a credit they requested", extra={"rule": "own_credit"}
        )

    if credit.status in _REVERSIBLE:
        lifecycle.transition(
            session,
            credit,
            CreditStatus.VOIDING,
            actor=actor,
            now=now,
            reason=justification,
        )
        outbox.enqueue(
            session, topic=VOID_TOPIC, payload={"credit_id": credit.id}, now=now
        )
        # The case settles when the reversal is confirmed.
        return credit
    if credit.status is not CreditStatus.POSTING_FAILED:
        raise InvalidState(
            f"credit {credit.number} is {credit.status.value}; only a posted, "
            "applied or failed posting can be voided",
            extra={"credit_status": credit.status.value},
        )

    for message in _undelivered_postings(session, credit.id):
        outbox.cancel(session, message.id, actor=actor, now=now, reason=justification)
    void_failed_posting(
        session, credit, user=user, reason=justification, actor=actor, now=now
    )
    cases.after_credit_settled(
        session, credit.case_id, actor=actor, now=now, settings=settings
    )
    return credit


def void_failed_posting(
    session: Session,
    credit: BillingCredit,
    *,
    user: User | None,
    reason: str | None,
    actor: Actor,
    now: datetime,
) -> None:
    """A person gave up on a failed posting: the credit is voided and the
    billing-operations handoff is done. The caller has locked the credit."""
    lifecycle.transition(
        session, credit, CreditStatus.VOIDED, actor=actor, now=now, reason=reason
    )
    handoffs.finish_open(
        session,
        credit.id,
        WorkItemKind.POSTING_FAILED,
        user=user,
        actor=actor,
        now=now,
    )


def finish_void(
    session: Session,
    credit: BillingCredit,
    *,
    reason: str,
    actor: Actor,
    now: datetime,
    settings: Settings,
) -> None:
    """The billing system reversed the memo (or billing operations gave up on
    it): the ``voiding`` credit is ``voided`` and its case may settle. The
    caller has locked the credit."""
    lifecycle.transition(
        session, credit, CreditStatus.VOIDED, actor=actor, now=now, reason=reason
    )
    cases.after_credit_settled(
        session, credit.case_id, actor=actor, now=now, settings=settings
    )


def _undelivered_postings(session: Session, credit_id: int) -> list[OutboxMessage]:
    query = sa.select(OutboxMessage).where(
        OutboxMessage.topic == POST_TOPIC,
        OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.DEAD]),
        OutboxMessage.payload["credit_id"].as_integer() == credit_id,
    )
    return list(session.scalars(query.order_by(OutboxMessage.id)))
