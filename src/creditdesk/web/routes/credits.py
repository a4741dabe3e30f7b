"""Credits: raising one from a case, the live preview, the credit page, and
the owner's actions on it (recall, resubmit after more information)."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from creditdesk.access import visibility
from creditdesk.access.fields import FieldView, view_for
from creditdesk.accounts.models import Account
from creditdesk.api.deps import AppSettings, DbSession, Now, ReadSession
from creditdesk.approvals import items as work_items
from creditdesk.approvals.models import WorkItemKind
from creditdesk.auth.scopes import READ, needs
from creditdesk.cases import service as cases
from creditdesk.cases.models import Case
from creditdesk.credits import decisions
from creditdesk.credits import service as credits
from creditdesk.credits.endpoints import credit_id_of
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.credits.schemas import CreditEditIn, CreditOut
from creditdesk.errors import DomainError, FieldIssue, ValidationFailed
from creditdesk.idempotency import service as idempotency
from creditdesk.policy.engine import Outcome
from creditdesk.users.models import User
from creditdesk.web import credit_form, timeline
from creditdesk.web.approvers import describe_steps
from creditdesk.web.deps import Form, WebActor, WebUser
from creditdesk.web.forms import field_errors, form_id
from creditdesk.web.render import flash, money, render, secure
from creditdesk.web.routes.cases import render_case

router = APIRouter(include_in_schema=False)

_SCOPE = "web POST /cases/{id}/credits"
_RECALLABLE = (CreditStatus.PENDING_APPROVAL, CreditStatus.DRAFT)
_OUTCOME_WORDS = {
    CreditStatus.APPROVED: "approved at once",
    CreditStatus.PENDING_APPROVAL: "waiting for approval",
    CreditStatus.REFUSED: "refused by the policy",
}


@router.post("/cases/{case_id}/credits")
def raise_credit(
    case_id: int,
    request: Request,
    form: Form,
    session: ReadSession,
    user: WebUser,
    actor: WebActor,
    now: Now,
    settings: AppSettings,
) -> Response:
    """Raise the credit and go to its page. The form's idempotency key makes
    a second submission of the same form land on the same credit."""
    case = cases.get_case(session, case_id, user=user)
    account = session.get_one(Account, case.account_id)
    try:
        data = credit_form.parse(case.id, account.currency, form)
        key = idempotency.check_key(form.get("idempotency_key", ""))
        claim = idempotency.Claim(
            user_id=user.id,
            key=key,
            scope=_SCOPE,
            request_hash=idempotency.fingerprint(data.model_dump(mode="json")),
        )

        def work(tx: Session) -> tuple[int, dict[str, Any]]:
            credit = credits.raise_credit(
                tx, data=data, requester=user, actor=actor, now=now, settings=settings
            )
            tx.flush()
            return 201, {"id": credit.id, "status": credit.status.value}

        stored = idempotency.run(
            request.app.state.session_factory,
            claim=claim,
            work=work,
            now=now,
            settings=settings,
        )
    except DomainError as exc:
        refused = credit_form.blank(session, case, account)
        refused = credit_form.filled(refused, form)
        refused.errors = field_errors(exc, known=frozenset(credit_form.FIELDS))
        return render_case(
            request, session, user, case, form=refused, status_code=exc.status
        )

    credit_id, status = stored.body["id"], CreditStatus(stored.body["status"])
    words = _OUTCOME_WORDS.get(status, status.value)
    response = secure(RedirectResponse(f"/credits/{credit_id}", status_code=303))
    return flash(request, response, f"Credit raised: {words}.")


@router.post("/credits/preview", **needs(READ))
def preview(
    request: Request, form: Form, session: ReadSession, user: WebUser, now: Now
) -> Response:
    """The policy's decision for the form as it stands (htmx fragment);
    the same service as ``POST /api/v1/credits/preview``. Writes nothing."""
    context: dict[str, Any] = {"outcome": None, "problem": None}
    try:
        case = cases.get_case(session, _int(form.get("case_id")), user=user)
        account = session.get_one(Account, case.account_id)
        if not form.get("amount", "").strip():
            raise ValidationFailed.on("amount", "enter an amount")
        data = credit_form.for_preview(case.id, account.currency, form)
        decision = credits.preview(session, data=data, requester=user, now=now)
    except DomainError as exc:
        context["problem"] = exc.issues[0].message if exc.issues else exc.detail
        return render(request, "credits/_preview.html", **context)

    context["outcome"] = decision.outcome.value
    context["rules"] = [rule.message for rule in decision.rules]
    context["approvers"] = describe_steps(session, user, decision.steps)
    context["amount"] = money(data.amount_minor, data.currency)
    if decision.outcome is Outcome.REFUSED:
        context["refusal"] = decision.rules[0].message
    return render(request, "credits/_preview.html", **context)


@router.get("/credits/{credit_ref}")
def credit_page(
    credit_ref: str, request: Request, session: ReadSession, user: WebUser
) -> Response:
    """The credit as you may see it, its timeline and what you may do."""
    return render_credit(request, session, user, credit_id_of(credit_ref))


def render_credit(
    request: Request,
    session: Session,
    user: User,
    credit_id: int,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    found = credits.history(session, credit_id, user=user)
    view = view_for(session, user)
    credit = found.credit
    owner = visibility.may_act_as_owner(session, user, credit)
    question = _open_question(session, credit, view)
    return render(
        request,
        "credits/credit.html",
        status_code=status_code,
        credit=CreditOut.of(credit, view),
        case=session.get_one(Case, credit.case_id),
        account=session.get_one(Account, credit.account_id),
        requester=session.get_one(User, credit.requested_by_id),
        events=timeline.build(session, found, view),
        show_amount=view.can_read("amount"),
        show_justification=view.can_read("justification"),
        may_recall=owner and credit.status in _RECALLABLE,
        may_resubmit=owner
        and credit.status is CreditStatus.DRAFT
        and credit_form.may_raise(session, user),
        question=question,
        labels=credit_form.labels(session, credit.policy_version),
        errors=errors or {},
    )


@router.post("/credits/{credit_ref}/recall")
def recall(
    credit_ref: str,
    request: Request,
    form: Form,
    session: DbSession,
    user: WebUser,
    actor: WebActor,
    now: Now,
    settings: AppSettings,
) -> Response:
    """Withdraw a credit awaiting approval (or returned for information)."""
    credit = decisions.recall(
        session,
        credit_id=credit_id_of(credit_ref),
        user=user,
        actor=actor,
        now=now,
        settings=settings,
        comment=form.get("comment", "").strip() or None,
    )
    response = secure(RedirectResponse(f"/credits/{credit.id}", status_code=303))
    return flash(request, response, f"Credit {credit.number} recalled.")


@router.post("/credits/{credit_ref}/resubmit")
def resubmit(
    credit_ref: str,
    request: Request,
    form: Form,
    session: DbSession,
    user: WebUser,
    actor: WebActor,
    now: Now,
    settings: AppSettings,
) -> Response:
    """Resubmit a credit returned for more information, with any edits."""
    credit_id = credit_id_of(credit_ref)
    try:
        edit = _edit_of(form)
        credit = decisions.resubmit(
            session,
            credit_id=credit_id,
            user=user,
            edit=edit,
            actor=actor,
            now=now,
            settings=settings,
        )
    except DomainError as exc:
        if exc.status == 404:
            raise
        session.rollback()
        errors = field_errors(exc, known=frozenset({"amount", "justification"}))
        return render_credit(
            request, session, user, credit_id, errors=errors, status_code=exc.status
        )
    response = secure(RedirectResponse(f"/credits/{credit.id}", status_code=303))
    return flash(request, response, f"Credit {credit.number} resubmitted.")


def _edit_of(form: dict[str, str]) -> CreditEditIn:
    values = {
        name: form[name].strip()
        for name in ("amount", "justification", "comment")
        if form.get(name, "").strip()
    }
    try:
        return CreditEditIn.model_validate(values)
    except ValidationError as exc:
        issues = [
            FieldIssue(str(e["loc"][0]) if e.get("loc") else "form", e["msg"])
            for e in exc.errors()
        ]
        raise ValidationFailed(issues[0].message, issues) from None


def _open_question(
    session: Session, credit: BillingCredit, view: FieldView
) -> str | None:
    """The approver's question while the credit waits for more information."""
    if credit.status is not CreditStatus.DRAFT:
        return None
    kinds = [WorkItemKind.MORE_INFO]
    for item in work_items.open_items_of(session, credit.id, kinds=kinds):
        return view.mask_text(item.comment)
    return None


def _int(value: str | None) -> int:
    case_id = form_id(value)
    if case_id is None:
        raise ValidationFailed.on("case_id", "the form names no case")
    return case_id
