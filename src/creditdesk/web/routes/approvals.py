"""The approvals inbox: what waits for the caller's decision, an item's own
page, and approving, rejecting, claiming and reassigning from either.

The same services as ``/api/v1/work-items`` decide: the duties, a required
comment on a rejection, 409 when someone else acted first. A refusal
re-renders the page it came from with the message next to the form (or, for
htmx, just the item), never a 500.
"""

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from creditdesk.access.fields import view_for
from creditdesk.api.deps import AppSettings, DbSession, Now, ReadSession
from creditdesk.approvals import actions
from creditdesk.approvals.schemas import ItemDecisionIn, ReassignIn
from creditdesk.credits import decisions
from creditdesk.credits.models import BillingCredit
from creditdesk.errors import BadRequest, DomainError, ValidationFailed
from creditdesk.users.models import User
from creditdesk.web import approval_people, inbox
from creditdesk.web.deps import Form, WebActor, WebUser, is_htmx
from creditdesk.web.forms import field_errors, form_id, parse
from creditdesk.web.render import flash, label, render, secure

router = APIRouter(include_in_schema=False)

_DECISIONS = {
    "approve": "approved",
    "reject": "rejected",
    "request_info": "returned to its agent with your question",
}
_DECIDE_FIELDS = frozenset({"comment", "decision"})
_REASSIGN_FIELDS = frozenset({"assignee_id", "comment"})


@router.get("/approvals")
def inbox_page(
    request: Request,
    session: ReadSession,
    user: WebUser,
    now: Now,
    mine_after: str = "",
    queued_after: str = "",
) -> Response:
    """Approvals waiting for you, then those open to your queues, oldest
    first, each with its credit, its case and the time left; each section
    pages on after the item id given for it."""
    inbox.require_approvals_user(user)
    return render_inbox(
        request,
        session,
        user,
        now,
        mine_after=_cursor("mine_after", mine_after),
        queued_after=_cursor("queued_after", queued_after),
    )


def _cursor(name: str, text: str) -> int | None:
    if not text:
        return None
    found = form_id(text)
    if found is None:
        raise BadRequest(f"{name} must be a work item id, such as 120")
    return found


def render_inbox(
    request: Request,
    session: Session,
    user: User,
    now: datetime,
    *,
    errors: dict[int, dict[str, str]] | None = None,
    comments: dict[int, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
    mine_after: int | None = None,
    queued_after: int | None = None,
) -> Response:
    found = inbox.inbox(
        session, user, now, mine_after=mine_after, queued_after=queued_after
    )
    rows = found.mine + found.queued
    return render(
        request,
        "approvals/inbox.html",
        status_code=status_code,
        inbox=found,
        page_size=inbox.INBOX_ROWS,
        actions={row.item.id: inbox.actions_for(user, row) for row in rows},
        errors=errors or {},
        comments=comments or {},
        notice=notice,
    )


@router.get("/approvals/{item_id:int}")
def item_page(
    item_id: int, request: Request, session: ReadSession, user: WebUser, now: Now
) -> Response:
    """One approval item: the credit and its case, the decision form and,
    for team leads, managers and admins, reassigning it."""
    inbox.require_approvals_user(user)
    return render_item(request, session, user, item_id, now)


def render_item(
    request: Request,
    session: Session,
    user: User,
    item_id: int,
    now: datetime,
    *,
    errors: dict[str, str] | None = None,
    comment: str = "",
    reassign_errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    row = inbox.load_row(session, user, item_id, now)
    allowed = inbox.actions_for(user, row)
    choices: list[tuple[str, str]] = []
    if allowed.reassign and row.item.step is not None:
        credit = session.get_one(BillingCredit, row.credit.id)
        choices = approval_people.reassign_choices(
            session, row.item, credit, row.item.step
        )
    return render(
        request,
        "approvals/item.html",
        status_code=status_code,
        row=row,
        allowed=allowed,
        item_errors=errors or {},
        comment=comment,
        reassign_errors=reassign_errors or {},
        choices=choices,
        notice=notice,
        back="item",
        **_visible_fields(session, user),
    )


def _visible_fields(session: Session, user: User) -> dict[str, bool]:
    view = view_for(session, user)
    return {
        "show_amount": view.can_read("amount"),
        "show_justification": view.can_read("justification"),
    }


@router.post("/approvals/{item_id:int}/decide")
def decide(
    item_id: int,
    request: Request,
    form: Form,
    session: DbSession,
    user: WebUser,
    actor: WebActor,
    now: Now,
    settings: AppSettings,
) -> Response:
    """Approve, reject with a comment, or ask the agent a question (the
    comment); the same rules as ``POST /api/v1/work-items/{id}/decide``."""
    inbox.require_approvals_user(user)
    choice = form.get("decision", "")
    comment = form.get("comment", "").strip() or None
    try:
        item, _ = inbox.approval_item(session, user, item_id)
        if choice not in _DECISIONS:
            raise ValidationFailed.on("decision", "choose Approve, Reject or Ask")
        asked = parse(ItemDecisionIn, {"decision": choice, "comment": comment})
        common = {
            "credit_id": item.credit_id,
            "user": user,
            "comment": asked.comment,
            "actor": actor,
            "now": now,
            "settings": settings,
            "item_id": item.id,
        }
        if choice == "request_info":
            credit = decisions.request_info(session, **common)
        else:
            credit = decisions.decide(session, approve=choice == "approve", **common)
    except DomainError as exc:
        if exc.status == 404:
            raise
        session.rollback()
        return _decision_refused(request, session, user, now, item_id, exc, form)

    message = (
        f"{credit.number} {_DECISIONS[choice]}: the credit is now "
        f"{label(credit.status).lower()}."
    )
    if is_htmx(request):
        return render(
            request, "approvals/_done.html", item_id=item_id, message=message, tone="ok"
        )
    return _back_to_inbox(request, message)


def _decision_refused(
    request: Request,
    session: Session,
    user: User,
    now: datetime,
    item_id: int,
    exc: DomainError,
    form: dict[str, str],
) -> Response:
    errors = field_errors(exc, known=_DECIDE_FIELDS)
    comment = form.get("comment", "")
    notice = None
    if exc.status == 409:
        # Someone else decided (or the chain moved on) since the page was
        # read: say so plainly; there is nothing left to decide here.
        notice = f"Someone else acted on this first: {exc.detail}."
        errors = {}
    elif "form" in errors and form.get("back") != "item":
        # The inbox may no longer list the item: say it above everything.
        notice = errors.pop("form")
    if is_htmx(request):
        if notice is not None:
            return render(
                request,
                "approvals/_done.html",
                status_code=exc.status,
                item_id=item_id,
                message=notice,
                tone="warn",
            )
        return _item_fragment(
            request, session, user, now, item_id, errors, comment, exc
        )
    if form.get("back") == "item":
        return render_item(
            request,
            session,
            user,
            item_id,
            now,
            errors=errors,
            comment=comment,
            notice=notice,
            status_code=exc.status,
        )
    return render_inbox(
        request,
        session,
        user,
        now,
        errors={item_id: errors},
        comments={item_id: comment},
        notice=notice,
        status_code=exc.status,
    )


def _item_fragment(
    request: Request,
    session: Session,
    user: User,
    now: datetime,
    item_id: int,
    errors: dict[str, str],
    comment: str,
    exc: DomainError,
) -> Response:
    row = inbox.load_row(session, user, item_id, now)
    return render(
        request,
        "approvals/_item.html",
        status_code=exc.status,
        row=row,
        allowed=inbox.actions_for(user, row),
        item_errors=errors,
        comment=comment,
        back="inbox",
        **_visible_fields(session, user),
    )


@router.post("/approvals/{item_id:int}/claim")
def claim(
    item_id: int,
    request: Request,
    session: DbSession,
    user: WebUser,
    actor: WebActor,
    now: Now,
) -> Response:
    """Take an item from a queue: it becomes yours, and the other members'
    copies close. Refused (409) when someone took it first."""
    inbox.require_approvals_user(user)
    try:
        _, credit = inbox.approval_item(session, user, item_id)
        actions.claim(session, item_id=item_id, user=user, actor=actor, now=now)
    except DomainError as exc:
        if exc.status == 404:
            raise
        session.rollback()
        notice = f"That item could not be claimed: {exc.detail}."
        return render_inbox(
            request, session, user, now, notice=notice, status_code=exc.status
        )
    response = secure(RedirectResponse(f"/approvals/{item_id}", status_code=303))
    return flash(request, response, f"{credit.number} is yours to decide now.")


@router.post("/approvals/{item_id:int}/reassign")
def reassign(
    item_id: int,
    request: Request,
    form: Form,
    session: DbSession,
    user: WebUser,
    actor: WebActor,
    now: Now,
    settings: AppSettings,
) -> Response:
    """Team leads, managers and admins hand a pending item to someone else
    who may decide it; the duties judge the new holder as anyone."""
    inbox.require_approvals_user(user)
    comment = form.get("comment", "").strip() or None
    try:
        _, credit = inbox.approval_item(session, user, item_id)
        asked = parse(
            ReassignIn,
            {"assignee_id": _user_id(form.get("assignee_id", "")), "comment": comment},
        )
        new = actions.reassign(
            session,
            item_id=item_id,
            to_user_id=asked.assignee_id,
            user=user,
            comment=asked.comment,
            actor=actor,
            now=now,
            settings=settings,
        )
    except DomainError as exc:
        if exc.status == 404:
            raise
        session.rollback()
        return render_item(
            request,
            session,
            user,
            item_id,
            now,
            reassign_errors=field_errors(exc, known=_REASSIGN_FIELDS),
            status_code=exc.status,
        )
    holder = session.get(User, new.assignee_id) if new.assignee_id else None
    name = holder.display_name if holder else "the queue"
    return _back_to_inbox(request, f"{credit.number} reassigned to {name}.")


def _user_id(value: str) -> int:
    user_id = form_id(value)
    if user_id is None:
        raise ValidationFailed.on("assignee_id", "choose who takes the item over")
    return user_id


def _back_to_inbox(request: Request, message: str) -> Response:
    response = secure(RedirectResponse("/approvals", status_code=303))
    return flash(request, response, message)
