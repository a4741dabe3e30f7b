"""The console's routers, one module per area, registered in app.py.

Add a new area's router to ROUTERS; pages live outside ``/api/v1``.
"""

from fastapi import APIRouter

from creditdesk.web.routes import (
    admin,
    admin_access,
    admin_policy,
    admin_users,
    approvals,
    audit,
    auth,
    cases,
    credits,
    delegations,
    home,
    ops,
    reconciliations,
)
from creditdesk.web.routes import reports as report_pages

ROUTERS: list[APIRouter] = [auth.router, home.router, cases.router, credits.router]
ROUTERS += [approvals.router, delegations.router]
ROUTERS += [admin.router, admin_policy.router, admin_users.router, admin_access.router]
ROUTERS += [ops.router, reconciliations.router, audit.router]
ROUTERS.append(report_pages.router)
