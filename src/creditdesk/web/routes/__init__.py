"""The console's routers, one module per area, registered in app.py.

Add a new area's router to ROUTERS; pages live outside ``/api/v1``.
"""

from fastapi import APIRouter

from creditdesk.web.routes import approvals, auth, cases, credits, delegations, home

ROUTERS: list[APIRouter] = [auth.router, home.router, cases.router, credits.router]
ROUTERS += [approvals.router, delegations.router]
