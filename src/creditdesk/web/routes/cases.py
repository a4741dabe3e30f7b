"""Cases: finding one, opening one, and the case page with its credit form."""

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from creditdesk.access.fields import view_for
from creditdesk.access.service import Permission, can, require
from creditdesk.accounts.models import Account
from creditdesk.api.deps import DbSession, Now, ReadSession
from creditdesk.cases import service as cases
from creditdesk.cases.models import Case, CaseType
from creditdesk.cases.schemas import CaseIn
from creditdesk.credits.schemas import CreditOut
from creditdesk.errors import DomainError, ValidationFailed
from creditdesk.money import MoneyError, parse_amount
from creditdesk.users.models import User
from creditdesk.web import credit_form, queries
from creditdesk.web.credit_form import CreditForm
from creditdesk.web.deps import Form, WebActor, WebUser, is_htmx
from creditdesk.web.forms import field_errors
from creditdesk.web.render import flash, render, secure

router = APIRouter(include_in_schema=False)

_CASE_FIELDS = frozenset(
    {"account", "subject", "type", "product", "invoice_ref", "disputed_amount"}
)
_CASE_TYPES = [(t.value, t.value.replace("_", " ").capitalize()) for t in CaseType]


@router.get("/cases")
def find_cases(
    request: Request, session: ReadSession, user: WebUser, q: str = ""
) -> Response:
    """Search the cases you may see by number, subject or account."""
    found = queries.search_cases(session, user, q)
    accounts = queries.accounts_of(session, [case.account_id for case in found])
    # htmx asks for the results only; restoring its history needs the page.
    fragment = is_htmx(request) and "hx-history-restore-request" not in request.headers
    return render(
        request,
        "cases/_results.html" if fragment else "cases/search.html",
        headers={"Vary": "HX-Request"},
        q=q,
        cases=found,
        accounts=accounts,
        may_open=can(user, Permission.CREATE_CASE),
    )


@router.get("/cases/new")
def new_case_form(
    request: Request, session: ReadSession, user: WebUser, account: str = ""
) -> Response:
    """The form to open a case; ``account`` pre-fills the account number."""
    require(user, Permission.CREATE_CASE)
    values = dict.fromkeys(_CASE_FIELDS, "")
    values["account"] = account
    values["type"] = CaseType.BILLING_DISPUTE.value
    return _case_form(request, values, {})


@router.post("/cases/new")
def open_case(
    request: Request,
    form: Form,
    session: DbSession,
    user: WebUser,
    actor: WebActor,
    now: Now,
) -> Response:
    """Open the case (you own it) and go to its page."""
    require(user, Permission.CREATE_CASE)
    values = {name: form.get(name, "").strip() for name in _CASE_FIELDS}
    try:
        case = _create(session, values, user=user, actor=actor, now=now)
    except DomainError as exc:
        session.rollback()
        errors = field_errors(exc, known=_CASE_FIELDS)
        return _case_form(request, values, errors, status_code=exc.status)
    response = secure(RedirectResponse(f"/cases/{case.id}", status_code=303))
    return flash(request, response, f"Case {case.number} opened.")


@router.get("/cases/{case_id}")
def case_page(
    case_id: int, request: Request, session: ReadSession, user: WebUser
) -> Response:
    """The case, its account and credits, and the form to raise a credit."""
    case = cases.get_case(session, case_id, user=user)
    return render_case(request, session, user, case)


def render_case(
    request: Request,
    session: Session,
    user: User,
    case: Case,
    *,
    form: CreditForm | None = None,
    status_code: int = 200,
) -> Response:
    """The case page; ``form`` re-renders a credit form that was refused."""
    context = queries.case_context(session, user, case)
    view = view_for(session, user)
    offered = credit_form.may_raise(session, user)
    if offered and form is None:
        form = credit_form.blank(session, case, context.account)
    return render(
        request,
        "cases/case.html",
        status_code=status_code,
        case=case,
        account=context.account,
        contracts=context.contracts,
        case_credits=[CreditOut.of(c, view) for c in context.case_credits],
        account_credits=[CreditOut.of(c, view) for c in context.account_credits],
        names=context.names,
        labels=credit_form.labels(session),
        show_amount=view.can_read("amount"),
        form=form if offered else None,
        case_open=case.status.value in ("open", "pending"),
    )


def _create(
    session: Session, values: dict[str, str], *, user: User, actor: WebActor, now: Now
) -> Case:
    account = _account_by_number(session, values["account"])
    disputed = None
    if values["disputed_amount"]:
        try:
            disputed = parse_amount(values["disputed_amount"], account.currency)
        except MoneyError as error:
            raise ValidationFailed.on("disputed_amount", str(error)) from None
    try:
        body = CaseIn(
            account_id=account.id,
            subject=values["subject"],
            type=values["type"] or CaseType.OTHER.value,
            product=values["product"] or None,
            invoice_ref=values["invoice_ref"] or None,
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error.get("loc") else "subject"
        raise ValidationFailed.on(name, error["msg"]) from None
    return cases.create_case(
        session,
        account_id=account.id,
        subject=body.subject,
        type=body.type,
        product=body.product,
        invoice_ref=body.invoice_ref,
        disputed_amount_minor=disputed,
        owner=user,
        actor=actor,
        now=now,
    )


def _account_by_number(session: Session, number: str) -> Account:
    if not number:
        raise ValidationFailed.on("account", "enter the customer's account number")
    account = session.scalars(
        sa.select(Account).where(sa.func.upper(Account.number) == number.upper())
    ).first()
    if account is None:
        raise ValidationFailed.on("account", f"no account has the number {number}")
    return account


def _case_form(
    request: Request,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "cases/new.html",
        status_code=status_code,
        values=values,
        errors=errors,
        case_types=_CASE_TYPES,
    )
