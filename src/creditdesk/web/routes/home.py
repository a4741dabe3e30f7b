"""The home page: what is waiting for the signed-in user."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from creditdesk.access.fields import view_for
from creditdesk.access.service import Permission, can
from creditdesk.api.deps import ReadSession
from creditdesk.credits.schemas import CreditOut
from creditdesk.web import queries
from creditdesk.web.deps import WebUser
from creditdesk.web.render import render

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(request: Request, session: ReadSession, user: WebUser) -> Response:
    """Your open cases, your credits by status, the work handed back to you
    and, for approvers, how many approvals wait in your inbox."""
    view = view_for(session, user)
    handoffs = queries.my_handoffs(session, user)
    approver = can(user, Permission.DECIDE_APPROVALS)
    return render(
        request,
        "home/home.html",
        cases=queries.my_open_cases(session, user),
        counts=queries.my_credit_counts(session, user),
        handoffs=[
            (item.kind.value, view.mask_text(item.comment), CreditOut.of(c, view))
            for item, c in handoffs
        ],
        approver=approver,
        pending_approvals=queries.pending_approvals(session, user) if approver else 0,
    )
