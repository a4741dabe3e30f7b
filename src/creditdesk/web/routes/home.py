"""The home page: what is waiting for the signed-in user."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from creditdesk.web.deps import WebUser
from creditdesk.web.render import render

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(request: Request, user: WebUser) -> Response:
    """The signed-in user's home page."""
    return render(request, "home/home.html")
