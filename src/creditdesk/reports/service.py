"""The reports by name: checks the filters, builds the caller's scope and
runs the report."""

from collections.abc import Callable
from datetime import date
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from creditdesk.errors import NotFound
from creditdesk.reports.approval_share import approval_share
from creditdesk.reports.filters import check_filters
from creditdesk.reports.issued import credits_issued
from creditdesk.reports.leakage import leakage
from creditdesk.reports.resolution import resolution_time
from creditdesk.reports.roi import roi
from creditdesk.reports.scope import Report, Scope, scope_for
from creditdesk.reports.settings import RoiBaselines
from creditdesk.users.models import User

log = structlog.get_logger(__name__)


Build = Callable[[Session, Scope], Report]

# Each report's name in the API, its title and what builds it.
REPORTS: dict[str, tuple[str, Build]] = {
    "credits-issued": ("Credits issued", credits_issued),
    "approval-share": ("Credits needing approval", approval_share),
    "resolution-time": ("Time to resolution of billing cases", resolution_time),
    "leakage": ("Monthly credit leakage", leakage),
    "roi": ("Return on investment", roi),
}


def run_report(
    session: Session,
    *,
    user: User,
    name: str,
    today: date,
    baselines: RoiBaselines,
    summary: bool = False,
    **filters: Any,
) -> Report:
    """The report ``name`` as ``user`` may see it; 404 for an unknown name,
    422 naming the filter at fault. ``summary`` keeps to what the
    dashboard charts (see ``Scope``)."""
    if name not in REPORTS:
        raise NotFound(f"there is no report named {name!r}")
    checked = check_filters(session, today=today, **filters)
    if session.get_bind().dialect.name == "postgresql":
        # A report's plan looks costly enough for PostgreSQL to compile it
        # with JIT, which alone takes longer than running the query does.
        session.execute(sa.text("SET LOCAL jit = off"))
        # At the default 4 MB, grouping a year of credits sorts on disk
        # rather than hashing in memory.
        session.execute(sa.text("SET LOCAL work_mem = '64MB'"))
        # psycopg prepares a statement sent five times, and after five more
        # PostgreSQL may settle on a generic plan, blind to the date range:
        # credits issued then took 550-840 ms instead of 250. A report's best
        # plan depends on its range, so each is planned for its parameters.
        session.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))
    scope = scope_for(session, user, checked, baselines, summary=summary)
    report = REPORTS[name][1](session, scope)
    log.info(
        "report.run",
        report=name,
        user_id=user.id,
        rows=sum(len(rows) for rows in report.tables.values()),
    )
    return report
