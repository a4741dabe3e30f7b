"""Storing a billing system's callback once, and acting on it once."""

from datetime import datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from creditdesk.accounts.models import Account
from creditdesk.actors import Actor, Channel
from creditdesk.audit import service as audit
from creditdesk.cases import service as cases
from creditdesk.config import Settings
from creditdesk.credits import lifecycle
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.inbox.models import InboxEvent, Outcome
from creditdesk.inbox.schemas import Callback

log = structlog.get_logger(__name__)


def actor_for(system: str) -> Actor:
    """Who a callback's changes are recorded as."""
    return Actor.system(Channel.API, name=f"inbox:{system}")


def receive(
    session: Session,
    *,
    system: str,
    event: Callback,
    now: datetime,
    settings: Settings,
) -> tuple[InboxEvent, bool]:
    """Store ``event`` from ``system`` and apply it; return the row and whether
    it was new. A repeated delivery returns the stored row and does nothing."""
    stored = _find(session, system, event.event_id)
    if stored is not None:
        log.info("inbox.duplicate", system=system, inbox_event_id=stored.id)
        return stored, False

    row = InboxEvent(
        system=system,
        external_event_id=event.event_id,
        event_type=event.event_type,
        external_ref=event.external_ref,
        payload=event.payload,
        received_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        # Another delivery of the same event committed first.
        stored = _find(session, system, event.event_id)
        if stored is None:
            raise
        log.info("inbox.duplicate", system=system, inbox_event_id=stored.id)
        return stored, False

    actor = actor_for(system)
    error = _apply(session, system, event, actor=actor, now=now, settings=settings)
    row.outcome = Outcome.IGNORED if error else Outcome.APPLIED
    row.error = error
    row.processed_at = now
    audit.record(
        session,
        actor=actor,
        action="inbox.event_received",
        entity_type="inbox_event",
        entity_id=row.id,
        changes={
            "event_type": (None, event.event_type),
            "external_ref": (None, event.external_ref),
            "outcome": (None, row.outcome),
        },
        reason=error,
        now=now,
    )
    session.flush()
    log.info(
        "inbox.received",
        system=system,
        inbox_event_id=row.id,
        event_type=event.event_type,
        outcome=row.outcome.value,
        reason=error,
    )
    return row, True


def _find(session: Session, system: str, event_id: str) -> InboxEvent | None:
    return session.scalars(
        sa.select(InboxEvent).where(
            InboxEvent.system == system, InboxEvent.external_event_id == event_id
        )
    ).first()


def _apply(
    session: Session,
    system: str,
    event: Callback,
    *,
    actor: Actor,
    now: datetime,
    settings: Settings,
) -> str | None:
    """Move the credit the event names to applied; else say why not."""
    if not event.applied:
        return f"event type {event.event_type!r} is not one the inbox acts on"
    credit_id = session.scalars(
        sa.select(BillingCredit.id)
        .join(Account, Account.id == BillingCredit.account_id)
        .where(
            BillingCredit.external_ref == event.external_ref,
            Account.billing_system == system,
        )
        .order_by(BillingCredit.id)
    ).first()
    if credit_id is None:
        return f"no {system} credit has the reference {event.external_ref!r}"

    credit = lifecycle.load_for_update(session, credit_id)
    if credit.status is not CreditStatus.POSTED:
        return f"credit {credit.number} is {credit.status.value}, not posted"
    lifecycle.record_applied(session, credit, actor=actor, now=now)
    cases.resolve_if_settled(
        session, credit.case_id, actor=actor, now=now, settings=settings
    )
    return None
