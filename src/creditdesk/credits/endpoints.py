from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from creditdesk.access.fields import view_for
from creditdesk.api.deps import (
    AppSettings,
    CurrentActor,
    CurrentUser,
    DbSession,
    Now,
    ReadSession,
)
from creditdesk.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from creditdesk.auth.scopes import APPROVE, READ, needs
from creditdesk.credits import decisions, service, voids
from creditdesk.credits.models import BillingCredit, CreditStatus, parse_number
from creditdesk.credits.queries import (
    CreditFilters,
    CreditSort,
    fieldset,
    next_page_cursor,
)
from creditdesk.credits.schemas import (
    CreditEditIn,
    CreditHistoryOut,
    CreditIn,
    CreditOut,
    DecisionIn,
    DecisionOut,
    RecallIn,
    VoidIn,
    credit_json,
    history_json,
)
from creditdesk.errors import NotFound
from creditdesk.idempotency import service as idempotency
from creditdesk.users.models import User

router = APIRouter(tags=["credits"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=idempotency.HEADER,
        description="Retry-safe key: the same key and body replay the first "
        "response for at least 24 hours.",
    ),
]


def credit_id_of(reference: str) -> int:
    """Accept a numeric id or a credit number such as ``BC-000123``."""
    if reference.isdigit():
        return int(reference)
    credit_id = parse_number(reference)
    if credit_id is None:
        raise NotFound(f"no credit {reference}")
    return credit_id


@router.post(
    "/credits",
    status_code=status.HTTP_201_CREATED,
    response_model=CreditOut,
    responses={
        409: {"description": "Same Idempotency-Key still in progress"},
        422: {"description": "Invalid field, or Idempotency-Key reused"},
    },
)
def raise_credit(
    request: Request,
    body: CreditIn,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
    settings: AppSettings,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Raise a credit on a case. The policy judges it at once: the response
    carries the decision and the resulting status (`approved`,
    `pending_approval` or `refused`; a refusal is recorded and returns 201)."""
    claim = None
    if idempotency_key is not None:
        claim = idempotency.Claim(
            user_id=user.id,
            key=idempotency.check_key(idempotency_key),
            scope="POST /credits",
            request_hash=idempotency.fingerprint(body.model_dump(mode="json")),
        )

    def work(session: Session) -> tuple[int, dict[str, Any]]:
        credit = service.raise_credit(
            session,
            data=body,
            requester=user,
            actor=actor,
            now=now,
            settings=settings,
        )
        session.flush()
        # The stored body is what a replay returns: mask it now, for this user.
        return status.HTTP_201_CREATED, credit_json(credit, view_for(session, user))

    stored = idempotency.run(
        request.app.state.session_factory,
        claim=claim,
        work=work,
        now=now,
        settings=settings,
    )
    headers = {"Idempotent-Replayed": "true"} if stored.replayed else None
    return JSONResponse(stored.body, status_code=stored.status, headers=headers)


# A preview writes nothing, so a read-only credential may ask for one.
@router.post("/credits/preview", **needs(READ))
def preview_credit(
    body: CreditIn, session: ReadSession, user: CurrentUser, now: Now
) -> DecisionOut:
    """The decision the policy would make for this request. Nothing is written."""
    decision = service.preview(session, data=body, requester=user, now=now)
    return DecisionOut.model_validate(decision.to_dict())


@router.get("/credits/{credit_ref}", response_model=CreditOut)
def get_credit(
    credit_ref: str, session: ReadSession, user: CurrentUser
) -> JSONResponse:
    """One credit, by id or by number (`BC-000123`); 404 unless the caller
    may see it."""
    credit = service.get_credit(session, credit_id_of(credit_ref), user=user)
    return _credit_response(session, user, credit)


@router.get("/credits", response_model=Page[CreditOut])
def list_credits(
    session: ReadSession,
    user: CurrentUser,
    status: CreditStatus | None = None,
    case_id: int | None = None,
    account_id: int | None = None,
    type: Annotated[str | None, Query(max_length=32)] = None,
    reason: Annotated[str | None, Query(max_length=32)] = None,
    currency: Annotated[str | None, Query(min_length=3, max_length=3)] = None,
    amount_min: Annotated[
        str | None, Query(description='Inclusive, e.g. "10.00"; needs currency')
    ] = None,
    amount_max: Annotated[
        str | None, Query(description='Inclusive, e.g. "50.00"; needs currency')
    ] = None,
    sort: Annotated[
        CreditSort | None, Query(description="Default: newest first")
    ] = None,
    fields: Annotated[
        str | None,
        Query(description="Comma-separated fields to return (id always comes)"),
    ] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> JSONResponse:
    """The credits the caller may see that match every filter given, newest
    first unless `sort` says otherwise. Pass `next_cursor` back as `cursor`
    (with the same `sort`) for more. Filtering, sorting or asking for a field
    hidden from your role is a 400 naming the parameter."""
    view = view_for(session, user)
    wanted = fieldset(view, fields)
    filters = CreditFilters(
        status=status,
        case_id=case_id,
        account_id=account_id,
        type=type,
        reason=reason,
        currency=currency,
        amount_min=amount_min,
        amount_max=amount_max,
    )
    credits = service.list_credits(
        session, user=user, filters=filters, sort=sort, cursor=cursor, limit=limit
    )
    page = {
        "items": [credit_json(c, view, wanted) for c in credits],
        "next_cursor": next_page_cursor(credits, sort, limit),
    }
    return JSONResponse(page)


def _credit_response(
    session: Session, user: User, credit: BillingCredit
) -> JSONResponse:
    return JSONResponse(credit_json(credit, view_for(session, user)))


@router.post(
    "/credits/{credit_ref}/approve", response_model=CreditOut, **needs(APPROVE)
)
def approve_credit(
    credit_ref: str,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
    settings: AppSettings,
    body: DecisionIn | None = None,
) -> JSONResponse:
    """Approve the step assigned to the caller. The last step approves the
    credit and queues its posting. 404 unless the caller may see the credit;
    403 names the rule that refused (own credit, reporting to the requester,
    a second step, not assigned, not an approving role); 409 when someone
    else decided first."""
    body = body or DecisionIn()
    credit = decisions.decide(
        session,
        credit_id=credit_id_of(credit_ref),
        user=user,
        approve=True,
        comment=body.comment,
        actor=actor,
        now=now,
        settings=settings,
        expected_step=body.step,
    )
    return _credit_response(session, user, credit)


@router.post("/credits/{credit_ref}/reject", response_model=CreditOut, **needs(APPROVE))
def reject_credit(
    credit_ref: str,
    body: DecisionIn,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
    settings: AppSettings,
) -> JSONResponse:
    """Reject the credit at the caller's step; `comment` is required. Unless
    the policy step sends it back to the previous step, the credit is
    rejected, handed back to its agent with the comment, and the case is open
    again."""
    credit = decisions.decide(
        session,
        credit_id=credit_id_of(credit_ref),
        user=user,
        approve=False,
        comment=body.comment,
        actor=actor,
        now=now,
        settings=settings,
        expected_step=body.step,
    )
    return _credit_response(session, user, credit)


@router.post(
    "/credits/{credit_ref}/request-info", response_model=CreditOut, **needs(APPROVE)
)
def request_info(
    credit_ref: str,
    body: DecisionIn,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
    settings: AppSettings,
) -> JSONResponse:
    """Ask the agent for more information (`comment` is the question): the
    credit returns to them as a `draft` to edit and resubmit."""
    credit = decisions.request_info(
        session,
        credit_id=credit_id_of(credit_ref),
        user=user,
        comment=body.comment,
        actor=actor,
        now=now,
        settings=settings,
    )
    return _credit_response(session, user, credit)


@router.post("/credits/{credit_ref}/resubmit", response_model=CreditOut)
def resubmit_credit(
    credit_ref: str,
    body: CreditEditIn,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
    settings: AppSettings,
) -> JSONResponse:
    """Resubmit a credit returned for more information, with a new `amount`
    or `justification` if given. The policy judges it again and the approval
    chain starts over as the new decision demands."""
    credit = decisions.resubmit(
        session,
        credit_id=credit_id_of(credit_ref),
        user=user,
        edit=body,
        actor=actor,
        now=now,
        settings=settings,
    )
    return _credit_response(session, user, credit)


@router.post("/credits/{credit_ref}/recall", response_model=CreditOut)
def recall_credit(
    credit_ref: str,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
    settings: AppSettings,
    body: RecallIn | None = None,
) -> JSONResponse:
    """The requester (or an edit grantee) withdraws a credit that is still
    awaiting approval, or one returned to them for more information."""
    credit = decisions.recall(
        session,
        credit_id=credit_id_of(credit_ref),
        user=user,
        actor=actor,
        now=now,
        settings=settings,
        comment=(body or RecallIn()).comment,
    )
    return _credit_response(session, user, credit)


@router.post("/credits/{credit_ref}/void", response_model=CreditOut)
def void_credit(
    credit_ref: str,
    body: VoidIn,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
    settings: AppSettings,
) -> JSONResponse:
    """Void a `posted` or `applied` credit and queue its reversal at the
    billing system (it answers `voiding`, and becomes `voided` once the
    billing system confirms), or void a `posting_failed` one (its undelivered posting is
    cancelled). Finance only: 403 for other roles, and for the agent who
    requested it (rule `own_credit`); 404 unless the caller may see the
    credit; 409 with `credit_status` in any other state."""
    credit = voids.void_credit(
        session,
        credit_id=credit_id_of(credit_ref),
        user=user,
        justification=body.justification,
        actor=actor,
        now=now,
        settings=settings,
    )
    return _credit_response(session, user, credit)


@router.get("/credits/{credit_ref}/history", response_model=CreditHistoryOut)
def credit_history(
    credit_ref: str, session: ReadSession, user: CurrentUser
) -> JSONResponse:
    """Everything that happened to the credit: audit entries, approval steps
    and every work item with its holder, status and times. Old and new values
    of fields hidden from you are left out."""
    found = service.history(session, credit_id_of(credit_ref), user=user)
    view = view_for(session, user)
    return JSONResponse(
        history_json(found.credit, found.entries, found.steps, found.items, view)
    )
