"""The console's routers, one module per area, registered in app.py.

Add a new area's router to ROUTERS; pages live outside ``/api/v1``.
"""

from fastapi import APIRouter

from creditdesk.web.routes import auth, cases, credits, home
from creditdesk.web.routes.audit import router as audit_router
from creditdesk.web.routes.ops import router as ops_router
from creditdesk.web.routes.reconciliations import router as reconciliations_router

ROUTERS: list[APIRouter] = [auth.router, home.router, cases.router, credits.router]
ROUTERS += [ops_router, reconciliations_router, audit_router]
