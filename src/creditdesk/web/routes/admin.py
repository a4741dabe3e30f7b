"""The administration area's front page, and what every admin page needs:
an administrator, or 403 (the same grant as the admin API), and the area's
own navigation."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from creditdesk.access.service import Permission, require
from creditdesk.users.models import User
from creditdesk.web.deps import WebUser
from creditdesk.web.render import render

router = APIRouter(include_in_schema=False)


def get_admin(user: WebUser) -> User:
    """The signed-in user if they may administer; otherwise 403."""
    require(user, Permission.ADMINISTER)
    return user


AdminUser = Annotated[User, Depends(get_admin)]

# The area's pages, in the order its front page and sub-navigation list them.
SECTIONS = [
    ("/admin/policy", "Policy", "Versions of the credit policy; edit and activate."),
    ("/admin/users", "Users", "Find, add and change users: role, team, manager."),
    ("/admin/teams", "Teams", "The teams users belong to."),
    ("/admin/sharing", "Sharing rules", "Let one team or role see another's credits."),
    ("/admin/fields", "Field permissions", "Which role may see or edit which field."),
]


def render_admin(
    request: Request, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """``render`` with the area's sub-navigation (``sections``) in context."""
    return render(
        request, template, status_code=status_code, sections=SECTIONS, **context
    )


@router.get("/admin")
def admin_home(request: Request, user: AdminUser) -> Response:
    """The administration areas."""
    return render_admin(request, "admin/index.html")
