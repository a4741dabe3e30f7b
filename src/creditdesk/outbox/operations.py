"""What billing operations do with outbox messages: read them, put a dead one
back in the queue, or cancel one for good.

Finance and administrators only. Cancelling a ``credit.post`` message is a
person giving up on that posting, so its failed credit is voided and the
billing-operations handoff closes with it; a retried posting settles its
handoff when the worker gets it through (``billing.tasks``). Cancelling a
``credit.void`` message is a person taking the reversal on themselves: its
``voiding`` credit becomes ``voided`` without the billing system's word.
"""

from datetime import datetime

from sqlalchemy.orm import Session

from creditdesk.access.service import Permission, require
from creditdesk.actors import Actor
from creditdesk.cases import service as cases
from creditdesk.config import Settings
from creditdesk.credits import lifecycle, voids
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.credits.service import POST_TOPIC
from creditdesk.errors import InvalidState
from creditdesk.outbox import service
from creditdesk.outbox.models import OutboxMessage, OutboxStatus
from creditdesk.users.models import User

# A posting still under way: cancelling its message would strand the credit.
_IN_FLIGHT = frozenset({CreditStatus.APPROVED, CreditStatus.POSTING})


def require_operator(user: User) -> None:
    """403 unless ``user`` works in billing operations (finance) or is an admin."""
    require(user, Permission.OPERATE_OUTBOX)


def list_messages(
    session: Session,
    *,
    user: User,
    status: OutboxStatus | None = None,
    topic: str | None = None,
    before_id: int | None = None,
    limit: int,
) -> list[OutboxMessage]:
    """One page of messages, newest first, filtered as given."""
    require_operator(user)
    return service.list_messages(
        session, status=status, topic=topic, before_id=before_id, limit=limit
    )


def get_message(session: Session, message_id: int, *, user: User) -> OutboxMessage:
    """One message with its payload and last error, or NotFound."""
    require_operator(user)
    return service.get_message(session, message_id)


def retry_message(
    session: Session,
    message_id: int,
    *,
    user: User,
    comment: str | None,
    actor: Actor,
    now: datetime,
) -> OutboxMessage:
    """Queue a dead message again with a fresh set of attempts (409 unless
    it is dead)."""
    require_operator(user)
    return service.retry_dead(session, message_id, actor=actor, now=now, reason=comment)


def cancel_message(
    session: Session,
    message_id: int,
    *,
    user: User,
    comment: str,
    actor: Actor,
    now: datetime,
    settings: Settings,
) -> OutboxMessage:
    """Withdraw a pending or dead message so it is never delivered.

    A ``credit.post`` message takes its failed credit with it to ``voided``;
    one whose credit is still being posted is a 409 naming ``credit_status``.
    A ``credit.void`` message takes its ``voiding`` credit to ``voided``.
    """
    require_operator(user)
    credit = _posted_credit(session, service.get_message(session, message_id))
    if credit is not None and credit.status in _IN_FLIGHT:
        raise InvalidState(
            f"credit {credit.number} is {credit.status.value}: its posting is "
            "still under way and cannot be cancelled",
            extra={"credit_status": credit.status.value},
        )

    voiding = _voiding_credit(session, service.get_message(session, message_id))
    message = service.cancel(session, message_id, actor=actor, now=now, reason=comment)
    if voiding is not None:
        voids.finish_void(
            session,
            voiding,
            reason=f"reversal cancelled by billing operations: {comment}",
            actor=actor,
            now=now,
            settings=settings,
        )
    if credit is not None and credit.status is CreditStatus.POSTING_FAILED:
        voids.void_failed_posting(
            session, credit, user=user, reason=comment, actor=actor, now=now
        )
        cases.after_credit_settled(
            session, credit.case_id, actor=actor, now=now, settings=settings
        )
    return message


def _voiding_credit(session: Session, message: OutboxMessage) -> BillingCredit | None:
    """The ``voiding`` credit a ``credit.void`` message reverses, locked."""
    credit_id = message.payload.get("credit_id")
    if message.topic != voids.VOID_TOPIC or not isinstance(credit_id, int):
        return None
    if session.get(BillingCredit, credit_id) is None:
        return None
    credit = lifecycle.load_for_update(session, credit_id)
    return credit if credit.status is CreditStatus.VOIDING else None


def _posted_credit(session: Session, message: OutboxMessage) -> BillingCredit | None:
    """The credit a ``credit.post`` message posts, locked; None for others."""
    credit_id = message.payload.get("credit_id")
    if message.topic != POST_TOPIC or not isinstance(credit_id, int):
        return None
    if session.get(BillingCredit, credit_id) is None:
        return None
    return lifecycle.load_for_update(session, credit_id)
