from fastapi import APIRouter
from pydantic import BaseModel

from creditdesk.api.deps import CurrentUser, ReadSession
from creditdesk.approvals import service
from creditdesk.credits.schemas import ApprovalItemOut, CreditOut, StepOut

router = APIRouter(tags=["approvals"])


class ApprovalsOut(BaseModel):
    items: list[ApprovalItemOut]


@router.get("/approvals")
def my_approvals(session: ReadSession, user: CurrentUser) -> ApprovalsOut:
    """Steps awaiting the caller's decision (assigned to them or their role
    queue), oldest first, each with its credit."""
    rows = service.pending_for(session, user)
    return ApprovalsOut(
        items=[
            ApprovalItemOut(step=StepOut.model_validate(step), credit=CreditOut.of(c))
            for step, c in rows
        ]
    )
