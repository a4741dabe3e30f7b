"""Decisions on a credit awaiting approval, and what the agent does after.

Approve and reject decide the caller's work item on the current step; an
approver may instead ask for more information, which returns the credit to
its agent as a draft. The agent edits and resubmits it, and the policy judges
it again: the chain starts over as the new decision demands. Every function
row-locks the credit first, so of two concurrent decisions exactly one
stands.
"""

from datetime import datetime

from pydantic import ValidationError
from sqlalchemy.orm import Session

from creditdesk.access import visibility
from creditdesk.access.duties import require_writer
from creditdesk.actors import Actor
from creditdesk.approvals import guards, handoffs
from creditdesk.approvals import service as approvals
from creditdesk.approvals.models import WorkItem, WorkItemKind
from creditdesk.approvals.service import ChainOutcome
from creditdesk.cases import service as cases
from creditdesk.config import Settings
from creditdesk.credits import lifecycle
from creditdesk.credits import service as credits
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.credits.schemas import CreditEditIn, CreditIn
from creditdesk.errors import FieldIssue, Forbidden, InvalidState, ValidationFailed
from creditdesk.money import format_amount
from creditdesk.users.models import User


def _credit_to_decide(session: Session, credit_id: int, user: User) -> BillingCredit:
    # Visibility first: an invisible credit is a 404 whoever asks, before any
    # rule about who may decide could tell the caller it exists.
    credit = visibility.load_credit(session, user, credit_id, for_update=True)
    guards.require_decider(user)
    if credit.status != CreditStatus.PENDING_APPROVAL:
        raise InvalidState(
            f"credit {credit.number} is {credit.status.value}, not awaiting approval",
            extra={"credit_status": credit.status.value},
        )
    return credit


def _require_comment(comment: str | None, what: str) -> str:
    if not comment or not comment.strip():
        raise ValidationFailed.on("comment", f"{what} needs a comment")
    return comment


def decide(
    session: Session,
    *,
    credit_id: int,
    user: User,
    approve: bool,
    comment: str | None,
    actor: Actor,
    now: datetime,
    settings: Settings,
    item_id: int | None = None,
    expected_step: int | None = None,
) -> BillingCredit:
    """Approve or reject at the caller's step (a rejection needs a comment).

    The last approval approves the credit and queues its posting in the same
    transaction; a rejection that ends the chain rejects it and hands it back
    to the agent.
    """
    credit = _credit_to_decide(session, credit_id, user)
    if not approve:
        _require_comment(comment, "a rejection")
    item = guards.item_to_decide(
        session, credit, user, item_id=item_id, expected_step=expected_step
    )

    outcome = approvals.decide(
        session,
        credit=credit,
        item=item,
        approve=approve,
        user=user,
        comment=comment,
        actor=actor,
        now=now,
        settings=settings,
    )
    if outcome is ChainOutcome.APPROVED:
        lifecycle.transition(
            session, credit, CreditStatus.APPROVED, actor=actor, now=now, reason=comment
        )
        credits.queue_posting(session, credit, now=now)
    elif outcome is ChainOutcome.REJECTED:
        _reject(session, credit, comment, actor=actor, now=now, settings=settings)
    elif outcome is ChainOutcome.RETURNED:
        _return(session, credit, comment, actor=actor, now=now, settings=settings)
    return credit


def _reject(
    session: Session,
    credit: BillingCredit,
    comment: str | None,
    *,
    actor: Actor,
    now: datetime,
    settings: Settings,
) -> None:
    lifecycle.transition(
        session, credit, CreditStatus.REJECTED, actor=actor, now=now, reason=comment
    )
    handoffs.to_agent(
        session,
        credit=credit,
        kind=WorkItemKind.REJECTED,
        comment=comment,
        actor=actor,
        now=now,
        settings=settings,
    )
    cases.after_credit_settled(
        session, credit.case_id, actor=actor, now=now, settings=settings
    )


def _return(
    session: Session,
    credit: BillingCredit,
    comment: str | None,
    *,
    actor: Actor,
    now: datetime,
    settings: Settings,
) -> WorkItem:
    lifecycle.transition(
        session, credit, CreditStatus.DRAFT, actor=actor, now=now, reason=comment
    )
    return handoffs.to_agent(
        session,
        credit=credit,
        kind=WorkItemKind.MORE_INFO,
        comment=comment,
        actor=actor,
        now=now,
        settings=settings,
    )


def request_info(
    session: Session,
    *,
    credit_id: int,
    user: User,
    comment: str | None,
    actor: Actor,
    now: datetime,
    settings: Settings,
    item_id: int | None = None,
) -> BillingCredit:
    """The approver needs more from the agent: the credit goes back to them
    as a draft with the question, and the chain ends as ``returned``."""
    credit = _credit_to_decide(session, credit_id, user)
    question = _require_comment(comment, "a request for information")
    item = guards.item_to_decide(session, credit, user, item_id=item_id)

    approvals.return_to_agent(
        session, item=item, user=user, comment=question, actor=actor, now=now
    )
    _return(session, credit, question, actor=actor, now=now, settings=settings)
    return credit


def resubmit(
    session: Session,
    *,
    credit_id: int,
    user: User,
    edit: CreditEditIn,
    actor: Actor,
    now: datetime,
    settings: Settings,
) -> BillingCredit:
    """Apply the agent's edits to a returned credit and judge it again."""
    credit = visibility.load_credit(session, user, credit_id, for_update=True)
    require_writer(user, "resubmit credits")
    if not visibility.may_act_as_owner(session, user, credit):
        raise Forbidden("only the agent who requested a credit may resubmit it")
    if credit.status != CreditStatus.DRAFT:
        raise InvalidState(
            f"credit {credit.number} is {credit.status.value}; only a credit "
            "returned for more information can be resubmitted",
            extra={"credit_status": credit.status.value},
        )
    credits.require_may_raise(session, user)
    data = _edited(credit, edit)

    checked = credits.check_request(session, data, user)
    # Judged as the agent who raised it, whoever resubmits: an edit grantee
    # with a higher limit must not widen what the requester may approve.
    requester = session.get_one(User, credit.requested_by_id)
    decision = credits.judge(
        session,
        data=data,
        checked=checked,
        requester=requester,
        now=now,
        exclude_credit_id=credit.id,
    )
    handoffs.finish_open(
        session, credit.id, WorkItemKind.MORE_INFO, user=user, actor=actor, now=now
    )
    lifecycle.transition(
        session,
        credit,
        CreditStatus.SUBMITTED,
        actor=actor,
        now=now,
        reason=edit.comment,
        amount_minor=data.amount_minor,
        justification=data.justification,
    )
    lifecycle.transition(
        session,
        credit,
        credits.OUTCOME_STATUS[decision.outcome],
        actor=actor,
        now=now,
        reason="; ".join(rule.message for rule in decision.rules),
        policy_version=decision.policy_version,
        decision=decision.to_dict(),
        near_duplicate="near_duplicate" in decision.flags,
        over_cap="over_cap" in decision.flags,
    )
    credits.act_on(
        session,
        credit,
        decision,
        checked.policy,
        actor=actor,
        now=now,
        settings=settings,
    )
    if credit.status is not CreditStatus.PENDING_APPROVAL:
        # The case has waited on this credit since it first needed approval;
        # approved or refused now, it no longer does.
        cases.after_credit_settled(
            session, credit.case_id, actor=actor, now=now, settings=settings
        )
    return credit


def _edited(credit: BillingCredit, edit: CreditEditIn) -> CreditIn:
    """The credit's request as it will be judged, with the edits applied and
    checked by the same rules as a new request."""
    body = {
        "case_id": credit.case_id,
        "amount": edit.amount
        if edit.amount is not None
        else format_amount(credit.amount_minor, credit.currency),
        "currency": credit.currency,
        "type": credit.type,
        "reason": credit.reason,
        "justification": edit.justification
        if edit.justification is not None
        else credit.justification,
        "product": credit.product,
        "invoice_ref": credit.invoice_ref,
    }
    try:
        return CreditIn.model_validate(body)
    except ValidationError as error:
        issues = [
            FieldIssue(".".join(map(str, e["loc"])) or "body", e["msg"])
            for e in error.errors(include_url=False)
        ]
        first = issues[0]
        raise ValidationFailed(f"{first.field}: {first.message}", issues) from None


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
    credit awaiting approval, or one returned to them for more information."""
    credit = visibility.load_credit(session, user, credit_id, for_update=True)
    require_writer(user, "recall credits")
    if not visibility.may_act_as_owner(session, user, credit):
        raise Forbidden(
            "only the agent who requested a credit, or someone it is shared "
            "with for editing, may recall it"
        )
    if credit.status not in (CreditStatus.PENDING_APPROVAL, CreditStatus.DRAFT):
        raise InvalidState(
            f"credit {credit.number} is {credit.status.value}; only a credit "
            "awaiting approval can be recalled",
            extra={"credit_status": credit.status.value},
        )

    approvals.recall_request(session, credit_id=credit.id, now=now)
    handoffs.finish_open(
        session, credit.id, WorkItemKind.MORE_INFO, user=user, actor=actor, now=now
    )
    lifecycle.transition(
        session, credit, CreditStatus.RECALLED, actor=actor, now=now, reason=comment
    )
    cases.after_credit_settled(
        session, credit.case_id, actor=actor, now=now, settings=settings
    )
    return credit
