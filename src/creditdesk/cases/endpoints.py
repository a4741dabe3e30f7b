from typing import Annotated

from fastapi import APIRouter, Query, status

from creditdesk.access.service import Permission, require
from creditdesk.accounts.service import get_account_for_input
from creditdesk.api.deps import CurrentActor, CurrentUser, DbSession, Now
from creditdesk.api.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Page,
    decode_cursor,
    next_cursor,
)
from creditdesk.cases import service
from creditdesk.cases.models import Case, CaseStatus
from creditdesk.cases.schemas import CaseIn, CaseOut
from creditdesk.errors import ValidationFailed
from creditdesk.money import MoneyError, format_amount, parse_amount

router = APIRouter(tags=["cases"])


def case_out(case: Case) -> CaseOut:
    disputed = case.disputed_amount_minor
    return CaseOut(
        id=case.id,
        number=case.number,
        account_id=case.account_id,
        subject=case.subject,
        description=case.description,
        type=case.type,
        product=case.product,
        invoice_ref=case.invoice_ref,
        disputed_amount=None
        if disputed is None
        else format_amount(disputed, case.currency),
        currency=case.currency,
        status=case.status,
        owner_id=case.owner_id,
        team_id=case.team_id,
        opened_at=case.opened_at,
        resolved_at=case.resolved_at,
    )


@router.post("/cases", status_code=status.HTTP_201_CREATED)
def create_case(
    body: CaseIn, session: DbSession, user: CurrentUser, actor: CurrentActor, now: Now
) -> CaseOut:
    """Open a case for a customer complaint; the caller owns it."""
    require(user, Permission.CREATE_CASE)
    account = get_account_for_input(session, body.account_id)
    disputed = None
    if body.disputed_amount is not None:
        try:
            disputed = parse_amount(body.disputed_amount, account.currency)
        except MoneyError as error:
            raise ValidationFailed.on("disputed_amount", str(error)) from None

    case = service.create_case(
        session,
        account_id=account.id,
        subject=body.subject,
        type=body.type,
        product=body.product,
        description=body.description,
        invoice_ref=body.invoice_ref,
        disputed_amount_minor=disputed,
        owner=user,
        actor=actor,
        now=now,
    )
    return case_out(case)


@router.get("/cases/{case_id}")
def get_case(case_id: int, session: DbSession, user: CurrentUser) -> CaseOut:
    """One case; 404 unless the caller may see it."""
    return case_out(service.get_case(session, case_id, user=user))


@router.get("/cases")
def list_cases(
    session: DbSession,
    user: CurrentUser,
    status: CaseStatus | None = None,
    account_id: int | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[CaseOut]:
    """The cases the caller may see, newest first, filtered by status and
    account."""
    cases = service.list_cases(
        session,
        user=user,
        status=status,
        account_id=account_id,
        before_id=decode_cursor(cursor),
        limit=limit,
    )
    return Page(
        items=[case_out(c) for c in cases],
        next_cursor=next_cursor([c.id for c in cases], limit),
    )
