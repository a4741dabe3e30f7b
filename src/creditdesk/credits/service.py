"""Use cases for billing credits: raise, preview, decide, recall, read.

Every function takes the caller's session and only flushes; the request or
job that called it commits, so the credit, its audit entries and its outbox
message become visible together or not at all.
"""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from creditdesk.access import fields, visibility
from creditdesk.access.duties import require_writer
from creditdesk.access.service import Permission, require
from creditdesk.accounts.models import Account
from creditdesk.actors import Actor
from creditdesk.approvals import service as approvals
from creditdesk.approvals.models import ApprovalStep
from creditdesk.audit import service as audit
from creditdesk.audit.models import AuditEntry
from creditdesk.cases import service as cases
from creditdesk.cases.models import Case
from creditdesk.config import Settings
from creditdesk.credits import lifecycle, queries
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.credits.queries import CreditFilters, CreditSort
from creditdesk.credits.schemas import CreditIn
from creditdesk.db import is_postgres
from creditdesk.errors import Forbidden, InvalidState, NotFound, ValidationFailed
from creditdesk.outbox import service as outbox
from creditdesk.policy import service as policy
from creditdesk.policy.engine import Decision, Outcome
from creditdesk.users.models import User

POST_TOPIC = "credit.post"


def get_credit(session: Session, credit_id: int, *, user: User) -> BillingCredit:
    """The credit if ``user`` may see it; 404 otherwise, as for a missing one."""
    return visibility.load_credit(session, user, credit_id)


def _account_locked(session: Session, account_id: int) -> Account:
    # Credits on one account are judged one at a time, so two concurrent
    # requests cannot both fit under the rolling cap.
    account = session.get(Account, account_id, with_for_update=is_postgres(session))
    if account is None:
        raise NotFound(f"account {account_id} does not exist")
    return account


@dataclass(frozen=True, slots=True)
class _Checked:
    case: Case
    account: Account
    policy: policy.ActivePolicy


def _check_request(session: Session, data: CreditIn, requester: User) -> _Checked:
    # A case the requester may not see is answered as one that does not exist.
    case = visibility.case_for_input(session, requester, data.case_id)
    account = _account_locked(session, case.account_id)
    if data.currency != account.currency:
        raise ValidationFailed.on(
            "currency",
            f"the account is billed in {account.currency}, not {data.currency}",
        )

    active = policy.active_policy(session)
    if data.type not in active.policy.credit_types:
        known = ", ".join(sorted(active.policy.credit_types))
        raise ValidationFailed.on("type", f"unknown credit type; use one of {known}")
    if data.reason not in active.policy.reason_codes:
        known = ", ".join(sorted(active.policy.reason_codes))
        raise ValidationFailed.on("reason", f"unknown reason; use one of {known}")
    return _Checked(case, account, active)


def _judge(
    session: Session,
    *,
    data: CreditIn,
    checked: _Checked,
    requester: User,
    now: datetime,
) -> Decision:
    return policy.judge(
        session,
        case=checked.case,
        account=checked.account,
        requester_role=requester.role.value,
        amount_minor=data.amount_minor,
        currency=data.currency,
        credit_type=data.type,
        reason=data.reason,
        now=now,
        active=checked.policy,
    )


# A credit request sets these; a role that may not edit them may not raise one.
_RAISE_FIELDS = ("amount", "justification")


def _require_may_raise(session: Session, requester: User) -> None:
    require(requester, Permission.CREATE_CREDIT)
    fields.require_edit(fields.view_for(session, requester), _RAISE_FIELDS)


def preview(
    session: Session, *, data: CreditIn, requester: User, now: datetime
) -> Decision:
    """What the policy would decide for this request; nothing is written."""
    _require_may_raise(session, requester)
    checked = _check_request(session, data, requester)
    return _judge(session, data=data, checked=checked, requester=requester, now=now)


def raise_credit(
    session: Session,
    *,
    data: CreditIn,
    requester: User,
    actor: Actor,
    now: datetime,
) -> BillingCredit:
    """Record the request, judge it by the active policy and act on the outcome.

    A refusal is recorded too (status ``refused``) so every attempt is traceable.
    """
    _require_may_raise(session, requester)
    checked = _check_request(session, data, requester)
    case, account = checked.case, checked.account
    decision = _judge(session, data=data, checked=checked, requester=requester, now=now)

    credit = BillingCredit(
        case_id=case.id,
        account_id=account.id,
        requested_by_id=requester.id,
        team_id=requester.team_id,
        amount_minor=data.amount_minor,
        currency=data.currency,
        type=data.type,
        reason=data.reason,
        justification=data.justification,
        product=data.product or case.product,
        invoice_ref=data.invoice_ref or case.invoice_ref,
        policy_version=decision.policy_version,
        decision=decision.to_dict(),
        near_duplicate="near_duplicate" in decision.flags,
        over_cap="over_cap" in decision.flags,
        created_at=now,
        updated_at=now,
    )
    lifecycle.insert_judged(
        session,
        credit,
        _OUTCOME_STATUS[decision.outcome],
        requested={name: getattr(credit, name) for name in _REQUESTED_FIELDS},
        actor=actor,
        now=now,
        reason="; ".join(rule.message for rule in decision.rules),
    )

    if decision.outcome is Outcome.APPROVED:
        _queue_posting(session, credit, now=now)
    elif decision.outcome is Outcome.APPROVAL_REQUIRED:
        approvals.open_request(
            session,
            credit=credit,
            kinds=decision.steps,
            requester=requester,
            actor=actor,
            now=now,
        )
    return credit


_OUTCOME_STATUS = {
    Outcome.APPROVED: CreditStatus.APPROVED,
    Outcome.APPROVAL_REQUIRED: CreditStatus.PENDING_APPROVAL,
    Outcome.REFUSED: CreditStatus.REFUSED,
}

# What the trail records about a request when it arrives.
_REQUESTED_FIELDS = (
    "case_id",
    "account_id",
    "amount_minor",
    "currency",
    "type",
    "reason",
    "justification",
    "product",
    "invoice_ref",
    "policy_version",
)


def _queue_posting(session: Session, credit: BillingCredit, *, now: datetime) -> None:
    """The posting leaves only if this transaction commits (transactional outbox)."""
    outbox.enqueue(session, topic=POST_TOPIC, payload={"credit_id": credit.id}, now=now)


def _approve(
    session: Session,
    credit: BillingCredit,
    *,
    actor: Actor,
    now: datetime,
    reason: str | None,
) -> None:
    """Approve and, in the same transaction, queue the posting."""
    lifecycle.transition(
        session, credit, CreditStatus.APPROVED, actor=actor, now=now, reason=reason
    )
    _queue_posting(session, credit, now=now)


def _credit_to_decide(session: Session, credit_id: int, user: User) -> BillingCredit:
    # Visibility first: an invisible credit is a 404 whoever asks, before any
    # rule about who may decide could tell the caller it exists.
    credit = visibility.load_credit(session, user, credit_id, for_update=True)
    approvals.require_decider(user)
    if credit.status != CreditStatus.PENDING_APPROVAL:
        raise InvalidState(
            f"credit {credit.number} is {credit.status.value}, not awaiting approval",
            extra={"status": credit.status.value},
        )
    return credit


def _step_to_decide(
    session: Session, credit: BillingCredit, user: User, expected_step: int | None
) -> ApprovalStep:
    step = approvals.current_step(session, credit.id)
    if step is None:
        raise InvalidState(f"credit {credit.number} has no step awaiting a decision")
    approvals.check_may_decide(session, credit, step, user)
    if expected_step is not None and step.sequence != expected_step:
        raise InvalidState(
            f"step {expected_step} was already decided; step {step.sequence} is "
            "now pending",
            extra={"current_step": step.sequence},
        )
    return step


def approve(
    session: Session,
    *,
    credit_id: int,
    user: User,
    actor: Actor,
    now: datetime,
    comment: str | None = None,
    expected_step: int | None = None,
) -> BillingCredit:
    """Approve the pending step; the last approval approves the credit."""
    credit = _credit_to_decide(session, credit_id, user)
    step = _step_to_decide(session, credit, user, expected_step)

    finished = approvals.decide_step(
        session,
        step=step,
        approve=True,
        user=user,
        comment=comment,
        actor=actor,
        now=now,
    )
    if finished:
        _approve(session, credit, actor=actor, now=now, reason=comment)
    return credit


def reject(
    session: Session,
    *,
    credit_id: int,
    user: User,
    actor: Actor,
    now: datetime,
    settings: Settings,
    comment: str | None,
    expected_step: int | None = None,
) -> BillingCredit:
    """Reject the pending step and with it the credit; a comment is required."""
    credit = _credit_to_decide(session, credit_id, user)
    if not comment or not comment.strip():
        raise ValidationFailed.on("comment", "a rejection needs a comment")
    step = _step_to_decide(session, credit, user, expected_step)

    approvals.decide_step(
        session,
        step=step,
        approve=False,
        user=user,
        comment=comment,
        actor=actor,
        now=now,
    )
    lifecycle.transition(
        session, credit, CreditStatus.REJECTED, actor=actor, now=now, reason=comment
    )
    cases.resolve_if_settled(
        session, credit.case_id, actor=actor, now=now, settings=settings
    )
    return credit


def recall(
    session: Session,
    *,
    credit_id: int,
    user: User,
    actor: Actor,
    now: datetime,
    settings: Settings,
    comment: str | None = None,
) -> BillingCredit:
    """The requester (or someone it is shared with for editing) withdraws a
    credit that is still awaiting approval."""
    credit = visibility.load_credit(session, user, credit_id, for_update=True)
    require_writer(user, "recall credits")
    if not visibility.may_act_as_owner(session, user, credit):
        raise Forbidden(
            "only the agent who requested a credit, or someone it is shared "
            "with for editing, may recall it"
        )
    if credit.status != CreditStatus.PENDING_APPROVAL:
        raise InvalidState(
            f"credit {credit.number} is {credit.status.value}; only a credit "
            "awaiting approval can be recalled",
            extra={"status": credit.status.value},
        )

    approvals.recall_request(session, credit_id=credit.id, now=now)
    lifecycle.transition(
        session, credit, CreditStatus.RECALLED, actor=actor, now=now, reason=comment
    )
    cases.resolve_if_settled(
        session, credit.case_id, actor=actor, now=now, settings=settings
    )
    return credit


def list_credits(
    session: Session,
    *,
    user: User,
    filters: CreditFilters,
    sort: CreditSort | None = None,
    cursor: str | None = None,
    limit: int,
) -> list[BillingCredit]:
    """One page of credits matching ``filters``, newest first unless ``sort``
    says otherwise. Filtering or sorting on a field hidden from ``user`` is a
    400 naming the parameter."""
    queries.check_visible(fields.view_for(session, user), filters, sort)

    query = sa.select(BillingCredit).where(*queries.where_clauses(filters))
    query = query.where(visibility.credit_visible(session, user))
    query = queries.ordered_page(query, sort, cursor, limit)
    return list(session.scalars(query))


def history(
    session: Session, credit_id: int, *, user: User
) -> tuple[BillingCredit, list[AuditEntry], list[ApprovalStep]]:
    credit = get_credit(session, credit_id, user=user)
    entries = audit.entries_for(session, entity_type="credit", entity_id=credit.id)
    return credit, entries, approvals.steps_of(session, credit.id)
