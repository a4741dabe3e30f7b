from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from creditdesk.access.fields import FieldView, view_for
from creditdesk.api.deps import (
    AppSettings,
    CurrentActor,
    CurrentUser,
    DbSession,
    Now,
    ReadSession,
)
from creditdesk.api.pagination import DEFAULT_LIMIT, MAX_LIMIT
from creditdesk.approvals import actions, delegations, guards, handoffs
from creditdesk.approvals.actions import Assigned, ItemFilters
from creditdesk.approvals.models import WorkItem, WorkItemKind, WorkItemStatus
from creditdesk.approvals.schemas import (
    DelegationIn,
    DelegationOut,
    ItemDecisionIn,
    ReassignIn,
    delegation_json,
)
from creditdesk.auth.scopes import APPROVE, needs
from creditdesk.credits import decisions
from creditdesk.credits.models import BillingCredit
from creditdesk.credits.schemas import ApprovalItemOut, approval_item_json
from creditdesk.errors import BadRequest, ValidationFailed
from creditdesk.users.models import User

router = APIRouter(tags=["approvals"])


class ApprovalsOut(BaseModel):
    items: list[ApprovalItemOut]


class WorkItemsOut(BaseModel):
    items: list[ApprovalItemOut]
    next_cursor: str | None


@router.get("/approvals", response_model=ApprovalsOut)
def my_approvals(session: ReadSession, user: CurrentUser) -> JSONResponse:
    """Approval items awaiting the caller's decision (theirs, or open to their
    queue), oldest first, each with its step and credit. Fields hidden from
    the caller's role are left out of the credit."""
    rows = guards.pending_for(session, user)
    view = view_for(session, user)
    items = [approval_item_json(item, credit, view) for item, credit in rows]
    return JSONResponse({"items": items})


@router.get("/work-items", response_model=WorkItemsOut)
def list_work_items(
    session: ReadSession,
    user: CurrentUser,
    assigned: Assigned | None = None,
    status: Annotated[
        str,
        Query(description="A work-item status, or `any`; pending by default"),
    ] = "pending",
    kind: WorkItemKind | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> JSONResponse:
    """The caller's work items, oldest first: `assigned=me` for those that are
    theirs (assigned, delegated, reassigned or claimed), `assigned=queue` for
    those that reached them through a queue and are still unclaimed."""
    filters = ItemFilters(assigned=assigned, status=_status(status), kind=kind)
    rows = actions.list_items(
        session, user=user, filters=filters, after_id=_cursor(cursor), limit=limit + 1
    )
    # One row beyond the page says whether there is another page at all.
    more = str(rows[limit - 1][0].id) if len(rows) > limit else None
    view = view_for(session, user)
    page = [approval_item_json(item, credit, view) for item, credit in rows[:limit]]
    return JSONResponse({"items": page, "next_cursor": more})


def _status(text: str) -> WorkItemStatus | None:
    if text == "any":
        return None
    try:
        return WorkItemStatus(text)
    except ValueError:
        known = ", ".join(s.value for s in WorkItemStatus)
        raise ValidationFailed.on("status", f"use any or one of {known}") from None


def _cursor(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit():
        raise BadRequest(
            "cursor is not one this API returned", extra={"field": "cursor"}
        )
    return int(text)


def _item_response(
    item: WorkItem, credit: BillingCredit, view: FieldView
) -> JSONResponse:
    return JSONResponse(approval_item_json(item, credit, view))


@router.get("/work-items/{item_id}", response_model=ApprovalItemOut)
def get_work_item(item_id: int, session: ReadSession, user: CurrentUser):
    """One work item with its step and credit; 404 unless the caller may see
    the credit."""
    item, credit = actions.load_item(session, user, item_id)
    return _item_response(item, credit, view_for(session, user))


@router.post("/work-items/{item_id}/claim", response_model=ApprovalItemOut)
def claim_work_item(
    item_id: int,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
) -> JSONResponse:
    """Take an item from a queue: it becomes the caller's and the other
    members' copies close as `no_response`. 409 when it was already taken."""
    item = actions.claim(session, item_id=item_id, user=user, actor=actor, now=now)
    credit = session.get(BillingCredit, item.credit_id)
    return _item_response(item, credit, view_for(session, user))


@router.post(
    "/work-items/{item_id}/decide", response_model=ApprovalItemOut, **needs(APPROVE)
)
def decide_work_item(
    item_id: int,
    body: ItemDecisionIn,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
    settings: AppSettings,
) -> JSONResponse:
    """Decide an approval item: `approve`, `reject` (comment required) or
    `request_info` (the comment is the question for the agent). The same
    rules hold as for `/credits/{id}/approve`: 403 names the duty that
    refused, 409 when someone else decided first."""
    item, _ = actions.load_item(session, user, item_id)
    if item.kind is not WorkItemKind.APPROVAL or body.decision == "done":
        raise ValidationFailed.on(
            "decision", "approval items are approved, rejected or returned"
        )
    common = {
        "credit_id": item.credit_id,
        "user": user,
        "comment": body.comment,
        "actor": actor,
        "now": now,
        "settings": settings,
        "item_id": item.id,
    }
    if body.decision == "request_info":
        credit = decisions.request_info(session, **common)
    else:
        approve = body.decision == "approve"
        credit = decisions.decide(session, approve=approve, **common)
    session.refresh(item)
    return _item_response(item, credit, view_for(session, user))


@router.post("/work-items/{item_id}/complete", response_model=ApprovalItemOut)
def complete_work_item(
    item_id: int,
    body: ItemDecisionIn,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
) -> JSONResponse:
    """Mark a handoff (a rejected credit, a failed posting) dealt with; send
    `{"decision": "done", "comment": ...}`."""
    if body.decision != "done":
        raise ValidationFailed.on("decision", "a handoff is completed with done")
    item, credit = actions.load_item(session, user, item_id, for_update=True)
    handoffs.complete(
        session, item=item, user=user, comment=body.comment, actor=actor, now=now
    )
    return _item_response(item, credit, view_for(session, user))


@router.post("/work-items/{item_id}/reassign", response_model=ApprovalItemOut)
def reassign_work_item(
    item_id: int,
    body: ReassignIn,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
    settings: AppSettings,
) -> JSONResponse:
    """Team leads, managers and admins move a pending item to someone else;
    the old item ends as `reassigned` and the answer is the new one. 403 when
    the new holder may not decide the credit, naming the duty."""
    new = actions.reassign(
        session,
        item_id=item_id,
        to_user_id=body.assignee_id,
        user=user,
        comment=body.comment,
        actor=actor,
        now=now,
        settings=settings,
    )
    credit = session.get(BillingCredit, new.credit_id)
    return _item_response(new, credit, view_for(session, user))


class DelegationsOut(BaseModel):
    items: list[DelegationOut]


@router.get("/delegations", response_model=DelegationsOut)
def list_delegations(session: ReadSession, user: CurrentUser) -> JSONResponse:
    """Out-of-office delegations the caller gave or received, newest first."""
    rows = delegations.list_delegations(session, user=user)
    return JSONResponse({"items": [delegation_json(d) for d in rows]})


@router.post(
    "/delegations", status_code=status.HTTP_201_CREATED, response_model=DelegationOut
)
def create_delegation(
    body: DelegationIn,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
    settings: AppSettings,
) -> JSONResponse:
    """While away, send new work to `delegate_id`; work already waiting moves
    there too once the period has begun. 409 when it overlaps another
    delegation of the same user."""
    delegation = delegations.create_delegation(
        session,
        user=_user(session, body.user_id or user.id, "user_id"),
        delegate=_user(session, body.delegate_id, "delegate_id"),
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        reason=body.reason,
        by=user,
        actor=actor,
        now=now,
        settings=settings,
    )
    return JSONResponse(delegation_json(delegation), status_code=201)


@router.delete("/delegations/{delegation_id}", response_model=DelegationOut)
def revoke_delegation(
    delegation_id: int,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
) -> JSONResponse:
    """End a delegation now. Work already moved stays with the delegate."""
    delegation = delegations.revoke_delegation(
        session, delegation_id=delegation_id, by=user, actor=actor, now=now
    )
    return JSONResponse(delegation_json(delegation))


def _user(session: DbSession, user_id: int, field: str) -> User:
    found = session.get(User, user_id)
    if found is None:
        raise ValidationFailed.on(field, f"user {user_id} does not exist")
    return found
