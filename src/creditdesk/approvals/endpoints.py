from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from creditdesk.access.fields import view_for
from creditdesk.api.deps import CurrentUser, ReadSession
from creditdesk.approvals import service
from creditdesk.credits.schemas import ApprovalItemOut, approval_item_json

router = APIRouter(tags=["approvals"])


class ApprovalsOut(BaseModel):
    items: list[ApprovalItemOut]


@router.get("/approvals", response_model=ApprovalsOut)
def my_approvals(session: ReadSession, user: CurrentUser) -> JSONResponse:
    """Steps awaiting the caller's decision (assigned to them or their role
    queue), oldest first, each with its credit. Fields hidden from the
    caller's role are left out of the credit."""
    rows = service.pending_for(session, user)
    view = view_for(session, user)
    items = [approval_item_json(step, credit, view) for step, credit in rows]
    return JSONResponse({"items": items})
