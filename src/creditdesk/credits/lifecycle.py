"""The credit state machine: every status change goes through ``transition``.

Callers load the credit with ``load_for_update`` first, so of two concurrent
changes the second sees the first's result (a row lock on PostgreSQL; SQLite
write transactions are already serialised) and the version column catches
anything that slips past.
"""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session, make_transient_to_detached

from creditdesk.accounts.models import Account
from creditdesk.actors import Actor
from creditdesk.audit import service as audit
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.db import is_postgres
from creditdesk.errors import InvalidState, NotFound
from creditdesk.events import service as events
from creditdesk.money import format_amount

log = structlog.get_logger(__name__)

S = CreditStatus
ALLOWED: dict[CreditStatus, frozenset[CreditStatus]] = {
    S.DRAFT: frozenset({S.SUBMITTED, S.RECALLED}),
    S.SUBMITTED: frozenset({S.APPROVED, S.PENDING_APPROVAL, S.REFUSED}),
    # Back to draft: an approver asked the agent for more information.
    S.PENDING_APPROVAL: frozenset({S.APPROVED, S.REJECTED, S.RECALLED, S.DRAFT}),
    S.APPROVED: frozenset({S.POSTING}),
    S.POSTING: frozenset({S.POSTED, S.POSTING_FAILED}),
    S.POSTING_FAILED: frozenset({S.POSTING, S.VOIDED}),
    S.POSTED: frozenset({S.APPLIED, S.VOIDING}),
    S.APPLIED: frozenset({S.VOIDING}),
    # Voided once the billing system confirms the reversal, or when billing
    # operations give up on it (cancelling the credit.void message).
    S.VOIDING: frozenset({S.VOIDED}),
    S.REFUSED: frozenset(),
    S.REJECTED: frozenset(),
    S.RECALLED: frozenset(),
    S.VOIDED: frozenset(),
}

# The audit action (and domain event name) for arriving in each state.
ACTIONS = {
    S.DRAFT: "credit.returned",
    S.SUBMITTED: "credit.requested",
    S.PENDING_APPROVAL: "credit.approval_requested",
    S.APPROVED: "credit.approved",
    S.REFUSED: "credit.refused",
    S.REJECTED: "credit.rejected",
    S.RECALLED: "credit.recalled",
    S.POSTING: "credit.posting_started",
    S.POSTED: "credit.posted",
    S.APPLIED: "credit.applied",
    S.POSTING_FAILED: "credit.posting_failed",
    S.VOIDING: "credit.void_requested",
    S.VOIDED: "credit.voided",
}

_TIMESTAMPS = {
    S.APPROVED: "decided_at",
    S.REJECTED: "decided_at",
    S.REFUSED: "decided_at",
    S.POSTED: "posted_at",
    S.APPLIED: "applied_at",
}


# Every change of a credit starts here: built once, bound per call. The row
# is reloaded even if the session holds it, so the change sees the latest.
_BY_ID = (
    sa.select(BillingCredit)
    .where(BillingCredit.id == sa.bindparam("credit_id"))
    .execution_options(populate_existing=True)
)
_BY_ID_LOCKED = _BY_ID.with_for_update()


def load_for_update(session: Session, credit_id: int) -> BillingCredit:
    query = _BY_ID_LOCKED if is_postgres(session) else _BY_ID
    credit = session.scalars(query, {"credit_id": credit_id}).first()
    if credit is None:
        raise NotFound(f"credit {credit_id} does not exist")
    return credit


# load_for_update's credit with its account, in one round trip (the account
# is read, not locked); built once.
_WITH_ACCOUNT = (
    sa.select(BillingCredit, Account)
    .join(Account, Account.id == BillingCredit.account_id)
    .where(BillingCredit.id == sa.bindparam("credit_id"))
    .execution_options(populate_existing=True)
)
_WITH_ACCOUNT_LOCKED = _WITH_ACCOUNT.with_for_update(of=BillingCredit)


def load_with_account(
    session: Session, credit_id: int
) -> tuple[BillingCredit, Account]:
    query = _WITH_ACCOUNT_LOCKED if is_postgres(session) else _WITH_ACCOUNT
    row = session.execute(query, {"credit_id": credit_id}).first()
    if row is None:
        raise NotFound(f"credit {credit_id} does not exist")
    return row[0], row[1]


def can_move(credit: BillingCredit, target: CreditStatus) -> bool:
    return target in ALLOWED[credit.status]


def transition(
    session: Session,
    credit: BillingCredit,
    target: CreditStatus,
    *,
    actor: Actor,
    now: datetime,
    reason: str | None = None,
    **fields: Any,
) -> None:
    """Move ``credit`` to ``target``, setting ``fields`` and auditing the change."""
    changes = _apply(credit, target, now=now, fields=fields)
    _record(session, credit, target, changes, actor=actor, now=now, reason=reason)


def insert_judged(
    session: Session,
    credit: BillingCredit,
    target: CreditStatus,
    *,
    requested: dict[str, object],
    actor: Actor,
    now: datetime,
    reason: str | None = None,
) -> None:
    """Insert a new credit directly in the state its judgement put it in.

    The row is written once, but the trail still shows both steps: the
    request arriving as ``submitted`` with ``requested`` fields, then the move
    to ``target`` with the reason.
    """
    credit.status = CreditStatus.SUBMITTED
    changes = _apply(credit, target, now=now, fields={})
    _insert(session, credit)

    arrival = {name: (None, value) for name, value in requested.items()}
    arrival["status"] = (None, CreditStatus.SUBMITTED)
    _record(session, credit, S.SUBMITTED, arrival, actor=actor, now=now, reason=None)
    _record(session, credit, target, changes, actor=actor, now=now, reason=reason)


def _insert(session: Session, credit: BillingCredit) -> None:
    """Write a new credit with one INSERT on the session's connection and
    make it persistent in the session, as a flush would, for less work.

    Every column is given a value first (its plain default, else None), so
    that nothing is left to expire and load again; the version starts where
    the mapper's counter starts.
    """
    for column in _COLUMNS:
        if column.key not in credit.__dict__:
            default = column.default
            plain = default is not None and default.is_scalar
            setattr(credit, column.key, default.arg if plain else None)
    credit.version = 1
    values = {column.key: getattr(credit, column.key) for column in _COLUMNS}
    credit.id = session.connection().execute(_INSERT, values).scalar_one()

    make_transient_to_detached(credit)
    session.add(credit)


_TABLE = BillingCredit.__table__
_COLUMNS = [column for column in _TABLE.columns if column.key != "id"]
_INSERT = sa.insert(_TABLE).returning(_TABLE.c.id)


def _apply(
    credit: BillingCredit,
    target: CreditStatus,
    *,
    now: datetime,
    fields: dict[str, Any],
) -> dict[str, tuple[object, object]]:
    if not can_move(credit, target):
        raise InvalidState(
            f"credit {credit.number} is {credit.status.value} and cannot become "
            f"{target.value}",
            extra={"credit_status": credit.status.value},
        )

    changes: dict[str, tuple[object, object]] = {"status": (credit.status, target)}
    stamp = _TIMESTAMPS.get(target)
    if stamp is not None:
        fields.setdefault(stamp, now)
    for name, value in fields.items():
        old = getattr(credit, name)
        if old != value:
            changes[name] = (old, value)
            setattr(credit, name, value)
    credit.status = target
    credit.updated_at = now
    return changes


def _record(
    session: Session,
    credit: BillingCredit,
    target: CreditStatus,
    changes: dict[str, tuple[object, object]],
    *,
    actor: Actor,
    now: datetime,
    reason: str | None,
) -> None:
    audit.record(
        session,
        actor=actor,
        action=ACTIONS[target],
        entity_type="credit",
        entity_id=credit.id,
        changes=changes,
        reason=reason,
        now=now,
    )
    log.info(ACTIONS[target], credit_id=credit.id, actor=actor.name)
    if ACTIONS[target] in events.EVENT_TYPES:
        events.publish(
            session, event_type=ACTIONS[target], data=_event_data(credit), now=now
        )


def _event_data(credit: BillingCredit) -> dict[str, object]:
    # What a subscriber needs to act on the credit without calling back.
    return {
        "credit_id": credit.id,
        "number": credit.number,
        "status": credit.status.value,
        "case_id": credit.case_id,
        "account_id": credit.account_id,
        "amount": format_amount(credit.amount_minor, credit.currency),
        "currency": credit.currency,
        "type": credit.type,
        "reason": credit.reason,
        "external_ref": credit.external_ref,
    }


def start_posting(
    session: Session, credit: BillingCredit, *, actor: Actor, now: datetime
) -> None:
    transition(session, credit, S.POSTING, actor=actor, now=now, last_error=None)


def record_posted(
    session: Session,
    credit: BillingCredit,
    *,
    external_ref: str,
    actor: Actor,
    now: datetime,
) -> None:
    transition(
        session, credit, S.POSTED, actor=actor, now=now, external_ref=external_ref
    )


def record_applied(
    session: Session, credit: BillingCredit, *, actor: Actor, now: datetime
) -> None:
    transition(session, credit, S.APPLIED, actor=actor, now=now)


def record_posting_failed(
    session: Session,
    credit: BillingCredit,
    *,
    error: str,
    actor: Actor,
    now: datetime,
) -> None:
    transition(
        session,
        credit,
        S.POSTING_FAILED,
        actor=actor,
        now=now,
        reason=error,
        last_error=error,
    )
