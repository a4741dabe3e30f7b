from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from creditdesk.access.scopes import APPROVE, READ, needs
from creditdesk.api.deps import (
    AppSettings,
    CurrentActor,
    CurrentUser,
    DbSession,
    Now,
    ReadSession,
)
from creditdesk.api.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Page,
    decode_cursor,
    next_cursor,
)
from creditdesk.audit.schemas import AuditEntryOut
from creditdesk.credits import service
from creditdesk.credits.models import CreditStatus, parse_number
from creditdesk.credits.schemas import (
    CreditHistoryOut,
    CreditIn,
    CreditOut,
    DecisionIn,
    DecisionOut,
    RecallIn,
    StepOut,
)
from creditdesk.errors import NotFound
from creditdesk.idempotency import service as idempotency

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
        )
        session.flush()
        return status.HTTP_201_CREATED, CreditOut.of(credit).model_dump(mode="json")

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


@router.get("/credits/{credit_ref}")
def get_credit(credit_ref: str, session: ReadSession, _user: CurrentUser) -> CreditOut:
    """One credit, by id or by number (`BC-000123`)."""
    return CreditOut.of(service.get_credit(session, credit_id_of(credit_ref)))


@router.get("/credits")
def list_credits(
    session: ReadSession,
    _user: CurrentUser,
    status: CreditStatus | None = None,
    case_id: int | None = None,
    account_id: int | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[CreditOut]:
    """Credits, newest first. Pass `next_cursor` back as `cursor` for more."""
    credits = service.list_credits(
        session,
        status=status,
        case_id=case_id,
        account_id=account_id,
        before_id=decode_cursor(cursor),
        limit=limit,
    )
    return Page(
        items=[CreditOut.of(c) for c in credits],
        next_cursor=next_cursor([c.id for c in credits], limit),
    )


@router.post("/credits/{credit_ref}/approve", **needs(APPROVE))
def approve_credit(
    credit_ref: str,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
    body: DecisionIn | None = None,
) -> CreditOut:
    """Approve the step assigned to the caller. The last step approves the
    credit and queues its posting. 403 for the requester or a non-assignee;
    409 when someone else decided first."""
    body = body or DecisionIn()
    credit = service.approve(
        session,
        credit_id=credit_id_of(credit_ref),
        user=user,
        actor=actor,
        now=now,
        comment=body.comment,
        expected_step=body.step,
    )
    return CreditOut.of(credit)


@router.post("/credits/{credit_ref}/reject", **needs(APPROVE))
def reject_credit(
    credit_ref: str,
    body: DecisionIn,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
    settings: AppSettings,
) -> CreditOut:
    """Reject the credit at the caller's step; `comment` is required."""
    credit = service.reject(
        session,
        credit_id=credit_id_of(credit_ref),
        user=user,
        actor=actor,
        now=now,
        settings=settings,
        comment=body.comment,
        expected_step=body.step,
    )
    return CreditOut.of(credit)


@router.post("/credits/{credit_ref}/recall")
def recall_credit(
    credit_ref: str,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
    settings: AppSettings,
    body: RecallIn | None = None,
) -> CreditOut:
    """The requester withdraws a credit that is still awaiting approval."""
    credit = service.recall(
        session,
        credit_id=credit_id_of(credit_ref),
        user=user,
        actor=actor,
        now=now,
        settings=settings,
        comment=(body or RecallIn()).comment,
    )
    return CreditOut.of(credit)


@router.get("/credits/{credit_ref}/history")
def credit_history(
    credit_ref: str, session: ReadSession, _user: CurrentUser
) -> CreditHistoryOut:
    """Everything that happened to the credit: audit entries and approval steps."""
    credit, entries, steps = service.history(session, credit_id_of(credit_ref))
    return CreditHistoryOut(
        credit_id=credit.id,
        number=credit.number,
        entries=[AuditEntryOut.of(e) for e in entries],
        steps=[StepOut.model_validate(s) for s in steps],
    )
