"""The console's routers, one module per area, registered in app.py.

Add a new area's router to ROUTERS; pages live outside ``/api/v1``.
"""

from fastapi import APIRouter

from creditdesk.web.routes import auth, cases, credits, home
from creditdesk.web.routes import reports as report_pages

ROUTERS: list[APIRouter] = [auth.router, home.router, cases.router, credits.router]
ROUTERS.append(report_pages.router)
