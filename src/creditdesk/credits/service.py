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
from creditdesk.access.service import Permission, require
from creditdesk.accounts.models import Account
from creditdesk.actors import Actor
from creditdesk.approvals import items as work_items
from creditdesk.approvals import service as approvals
from creditdesk.approvals.models import ApprovalStep, WorkItem
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
from creditdesk.errors import NotFound, ValidationFailed
from creditdesk.outbox import service as outbox
from creditdesk.policy import service as policy
from creditdesk.policy.engine import Decision, Outcome
from creditdesk.users.models import User

POST_TOPIC = "credit.post"


def get_credit(session: Session, credit_id: int, *, user: User) -> BillingCredit:
    """The credit if ``user`` may see it; 404 otherwise, as for a missing one."""
    return visibility.load_credit(session, user, credit_id)


# The case, its account and the policy version in force, in one round trip;
# built once, bound per call. On PostgreSQL the account row is locked: credits
# on one account are judged one at a time, so two concurrent requests cannot
# both fit under the rolling cap.
_CASE_AND_ACCOUNT = (
    sa.select(Case, Account, policy.HEAD_VERSION, policy.HEAD_CHECKSUM)
    .join(Account, Account.id == Case.account_id)
    .where(Case.id == sa.bindparam("case_id"))
)
_CASE_AND_ACCOUNT_LOCKED = _CASE_AND_ACCOUNT.with_for_update(of=Account)


@dataclass(frozen=True, slots=True)
class _Loaded:
    case: Case
    account: Account
    policy_head: tuple[int | None, str | None]


def _case_and_account(session: Session, case_id: int) -> _Loaded | None:
    """Load the case and its account (locked) into the session, and read the
    policy head; None when there is no such case. The session holds loaded
    rows only while they are referenced, so keep them while it is asked."""
    postgres = is_postgres(session)
    query = _CASE_AND_ACCOUNT_LOCKED if postgres else _CASE_AND_ACCOUNT
    row = session.execute(query, {"case_id": case_id}).first()
    if row is None:
        return None
    case, account, version, checksum = row
    return _Loaded(case, account, (version, checksum))


@dataclass(frozen=True, slots=True)
class _Checked:
    case: Case
    account: Account
    policy: policy.ActivePolicy


def check_request(session: Session, data: CreditIn, requester: User) -> _Checked:
    # One query puts both rows in the session, so the visibility check reads
    # the case from there.
    loaded = _case_and_account(session, data.case_id)
    # A case the requester may not see is answered as one that does not exist.
    case = visibility.case_for_input(session, requester, data.case_id)
    if loaded is None:
        # Only a case deleted between the two reads gets here.
        raise NotFound(f"case {case.id} does not exist")
    account, head = loaded.account, loaded.policy_head
    if data.currency != account.currency:
        raise ValidationFailed.on(
            "currency",
            f"the account is billed in {account.currency}, not {data.currency}",
        )

    active = policy.active_policy(session, head=head)
    if data.type not in active.policy.credit_types:
        known = ", ".join(sorted(active.policy.credit_types))
        raise ValidationFailed.on("type", f"unknown credit type; use one of {known}")
    if data.reason not in active.policy.reason_codes:
        known = ", ".join(sorted(active.policy.reason_codes))
        raise ValidationFailed.on("reason", f"unknown reason; use one of {known}")
    return _Checked(case, account, active)


def judge(
    session: Session,
    *,
    data: CreditIn,
    checked: _Checked,
    requester: User,
    now: datetime,
    exclude_credit_id: int | None = None,
) -> Decision:
    """The policy's decision; ``exclude_credit_id`` is a credit being judged
    again, which must not count against its own cap or as its own duplicate."""
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
        exclude_credit_id=exclude_credit_id,
        active=checked.policy,
    )


# A credit request sets these; a role that may not edit them may not raise one.
_RAISE_FIELDS = ("amount", "justification")


def require_may_raise(session: Session, requester: User) -> None:
    require(requester, Permission.CREATE_CREDIT)
    fields.require_edit(fields.view_for(session, requester), _RAISE_FIELDS)


def preview(
    session: Session, *, data: CreditIn, requester: User, now: datetime
) -> Decision:
    """What the policy would decide for this request; nothing is written."""
    require_may_raise(session, requester)
    checked = check_request(session, data, requester)
    return judge(session, data=data, checked=checked, requester=requester, now=now)


def raise_credit(
    session: Session,
    *,
    data: CreditIn,
    requester: User,
    actor: Actor,
    now: datetime,
    settings: Settings,
) -> BillingCredit:
    """Record the request, judge it by the active policy and act on the outcome.

    A refusal is recorded too (status ``refused``) so every attempt is traceable.
    """
    require_may_raise(session, requester)
    checked = check_request(session, data, requester)
    case, account = checked.case, checked.account
    decision = judge(session, data=data, checked=checked, requester=requester, now=now)

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
        # act_on opens its first approval request now; set here, the row is
        # written once rather than updated straight after.
        approval_requested_at=(
            now if decision.outcome is Outcome.APPROVAL_REQUIRED else None
        ),
        created_at=now,
        updated_at=now,
    )
    lifecycle.insert_judged(
        session,
        credit,
        OUTCOME_STATUS[decision.outcome],
        requested={name: getattr(credit, name) for name in _REQUESTED_FIELDS},
        actor=actor,
        now=now,
        reason="; ".join(rule.message for rule in decision.rules),
    )

    act_on(
        session,
        credit,
        decision,
        checked.policy,
        actor=actor,
        now=now,
        settings=settings,
    )
    return credit


def act_on(
    session: Session,
    credit: BillingCredit,
    decision: Decision,
    active: policy.ActivePolicy,
    *,
    actor: Actor,
    now: datetime,
    settings: Settings,
) -> None:
    """Queue the posting of an approved credit, or open the approval chain
    the decision asks for (the case then waits on it)."""
    if decision.outcome is Outcome.APPROVED:
        queue_posting(session, credit, now=now)
    elif decision.outcome is Outcome.APPROVAL_REQUIRED:
        rules = active.policy
        band = rules.band_for(credit.amount_minor, credit.currency)
        steps = list(band.steps) if band else list(rules.approval_matrix.bands[0].steps)
        approvals.open_request(
            session,
            credit=credit,
            steps=steps,
            timings=rules.approvals,
            actor=actor,
            now=now,
            settings=settings,
        )
        cases.mark_pending(session, credit.case_id, actor=actor, now=now)


OUTCOME_STATUS = {
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


def queue_posting(session: Session, credit: BillingCredit, *, now: datetime) -> None:
    """The posting leaves only if this transaction commits (transactional outbox)."""
    payload = {"credit_id": credit.id}
    outbox.enqueue_now(session, topic=POST_TOPIC, payload=payload, now=now)


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


@dataclass(frozen=True, slots=True)
class History:
    credit: BillingCredit
    entries: list[AuditEntry]
    steps: list[ApprovalStep]
    items: list[WorkItem]


def history(session: Session, credit_id: int, *, user: User) -> History:
    """The credit's audit entries, approval steps and work items."""
    credit = get_credit(session, credit_id, user=user)
    entries = audit.entries_for(session, entity_type="credit", entity_id=credit.id)
    steps = approvals.steps_of(session, credit.id)
    return History(credit, entries, steps, work_items.items_of(session, credit.id))
