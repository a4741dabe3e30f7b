"""Out-of-office delegation from the approvals area: the caller's delegations
(given and received), a date-ranged one to create, and cancelling one.

The same service as ``/api/v1/delegations`` decides: an overlapping period,
a delegate who may not decide approvals or a period already over is refused
with the message next to the form.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from creditdesk.api.deps import AppSettings, DbSession, Now, ReadSession
from creditdesk.approvals import delegations
from creditdesk.approvals.models import Delegation
from creditdesk.approvals.schemas import DelegationIn
from creditdesk.errors import DomainError, FieldIssue, ValidationFailed
from creditdesk.users.models import Role, User
from creditdesk.web import approval_people, inbox, queries
from creditdesk.web.deps import Form, WebActor, WebUser
from creditdesk.web.forms import field_errors, form_id, parse
from creditdesk.web.render import flash, render, secure

router = APIRouter(include_in_schema=False)

PATH = "/approvals/delegations"
FIELDS = ("delegate_id", "starts_at", "ends_at", "reason")


@dataclass(frozen=True, slots=True)
class DelegationRow:
    delegation: Delegation
    away: str
    delegate: str
    state: str
    may_cancel: bool


@router.get(PATH)
def delegations_page(
    request: Request, session: ReadSession, user: WebUser, now: Now
) -> Response:
    """Your out-of-office delegations and a form for a new one."""
    inbox.require_approvals_user(user)
    return render_delegations(request, session, user, now)


def render_delegations(
    request: Request,
    session: Session,
    user: User,
    now: datetime,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "approvals/delegations.html",
        status_code=status_code,
        rows=_rows(session, user, now),
        choices=approval_people.delegate_choices(session, user),
        values=values or dict.fromkeys(FIELDS, ""),
        errors=errors or {},
    )


def _rows(session: Session, user: User, now: datetime) -> list[DelegationRow]:
    found = delegations.list_delegations(session, user=user)
    names = queries.names_of(
        session, [d.user_id for d in found] + [d.delegate_id for d in found]
    )
    return [
        DelegationRow(
            delegation=d,
            away=names.get(d.user_id, ""),
            delegate=names.get(d.delegate_id, ""),
            state=_state(d, now),
            may_cancel=_may_cancel(d, user, now),
        )
        for d in found
    ]


def _state(delegation: Delegation, now: datetime) -> str:
    if delegation.revoked_at is not None:
        return "Cancelled"
    if delegation.ends_at <= now:
        return "Ended"
    if delegation.starts_at <= now:
        return "Active"
    return "Upcoming"


def _may_cancel(delegation: Delegation, user: User, now: datetime) -> bool:
    # The service decides; this only spares people a button that would fail.
    if delegation.revoked_at is not None or delegation.ends_at <= now:
        return False
    mine = user.id in (delegation.user_id, delegation.created_by_id)
    return mine or user.role is Role.ADMIN


@router.post(PATH)
def create(
    request: Request,
    form: Form,
    session: DbSession,
    user: WebUser,
    actor: WebActor,
    now: Now,
    settings: AppSettings,
) -> Response:
    """While you are away (whole days, UTC), your new approvals go to the
    delegate; those already waiting move once the period has begun."""
    inbox.require_approvals_user(user)
    values = {name: form.get(name, "").strip() for name in FIELDS}
    try:
        delegate, starts_at, ends_at = _parse(session, values)
        asked = parse(
            DelegationIn,
            {
                "delegate_id": delegate.id,
                "starts_at": starts_at,
                "ends_at": ends_at,
                "reason": values["reason"] or None,
            },
        )
        created = delegations.create_delegation(
            session,
            user=session.get_one(User, user.id),
            delegate=delegate,
            starts_at=asked.starts_at,
            ends_at=asked.ends_at,
            reason=asked.reason,
            by=user,
            actor=actor,
            now=now,
            settings=settings,
        )
    except DomainError as exc:
        session.rollback()
        errors = field_errors(exc, known=frozenset(FIELDS))
        return render_delegations(
            request,
            session,
            user,
            now,
            values=values,
            errors=errors,
            status_code=exc.status,
        )
    stand_in = delegate.display_name
    return _back(request, f"Delegation {created.id} saved: {stand_in} stands in.")


def _parse(session: Session, values: dict[str, str]) -> tuple[User, datetime, datetime]:
    issues = []
    delegate_id = form_id(values["delegate_id"])
    delegate = session.get(User, delegate_id) if delegate_id is not None else None
    if delegate is None:
        issues.append(FieldIssue("delegate_id", "choose who stands in for you"))
    first = _day(values["starts_at"], "starts_at", "the first day away", issues)
    last = _day(values["ends_at"], "ends_at", "the last day away", issues)
    if issues or delegate is None or first is None or last is None:
        raise ValidationFailed(issues[0].message, issues)
    # Whole days in UTC, the console's zone: from the first day's midnight
    # to the midnight after the last day.
    starts_at = datetime.combine(first, time(), tzinfo=UTC)
    ends_at = datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC)
    return delegate, starts_at, ends_at


def _day(text: str, field: str, what: str, issues: list[FieldIssue]) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        issues.append(FieldIssue(field, f"enter {what} as a date, like 2026-03-14"))
        return None


@router.post(PATH + "/{delegation_id:int}/cancel")
def cancel(
    delegation_id: int,
    request: Request,
    session: DbSession,
    user: WebUser,
    actor: WebActor,
    now: Now,
) -> Response:
    """End a delegation now; work already moved stays with the delegate."""
    inbox.require_approvals_user(user)
    delegations.revoke_delegation(
        session, delegation_id=delegation_id, by=user, actor=actor, now=now
    )
    return _back(request, f"Delegation {delegation_id} cancelled.")


def _back(request: Request, message: str) -> Response:
    response = secure(RedirectResponse(PATH, status_code=303))
    return flash(request, response, message)
