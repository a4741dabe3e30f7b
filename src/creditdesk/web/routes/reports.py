"""The reports dashboard: every report's chart with its table, one set of
filters (the reports' own), and links to each report's JSON, CSV and XLSX."""

import contextvars
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from creditdesk.access.service import GRANTS, Permission
from creditdesk.access.visibility import line_below, sees_everything
from creditdesk.api.deps import Now, ReadSession
from creditdesk.db import read_only
from creditdesk.errors import DomainError, Forbidden, ValidationFailed
from creditdesk.policy import service as policy
from creditdesk.reports.service import REPORTS, run_report
from creditdesk.users.models import Team, User
from creditdesk.web import nav
from creditdesk.web.dashboard import PANELS, Panel
from creditdesk.web.deps import WebUser
from creditdesk.web.forms import field_errors, form_id
from creditdesk.web.render import render

router = APIRouter(include_in_schema=False)

# The last 30 days by default keep the page quick whatever the history's
# size; the filters widen it.
DASHBOARD_DAYS = 30
# The panels are drawn side by side, each from a read-only session of its
# own: their figures are added up mostly inside the database (SQLite lets go
# of the interpreter while it reads), so two cores draw a page in about two
# thirds of the time one would. Two threads for the whole process, so that
# dashboards opened together queue here rather than each taking five pooled
# connections.
_PANEL_THREADS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="reports-panel")
# Longest first, so that the last panel to start is a short one.
_DRAWING_ORDER = ("leakage", "credits-issued", "roi", "approval-share")
# The form's fields, named as the API names the reports' filters.
_FIELDS = (
    "date_from",
    "date_to",
    "team",
    "agent",
    "product",
    "reason",
    "currency",
    "convert_to",
)


@router.get("/reports")
def dashboard(
    request: Request,
    session: ReadSession,
    user: WebUser,
    now: Now,
    date_from: str = "",
    date_to: str = "",
    team: str = "",
    agent: str = "",
    product: str = "",
    reason: str = "",
    currency: str = "",
    convert_to: str = "",
) -> Response:
    """Charts of each report for the filters, with their numbers beside."""
    if not nav.sees_reports(user):
        raise Forbidden(f"the {user.role.value} role has no reports")
    given = (date_from, date_to, team, agent, product, reason, currency, convert_to)
    form = dict(zip(_FIELDS, given, strict=True))
    choices = _choices(session, user)
    try:
        filters = _parse(form, now.date())
        panels = _draw_panels(request, user, now.date(), filters)
    except DomainError as exc:
        if exc.status not in (409, 422):
            raise
        return render(
            request,
            "reports/dashboard.html",
            status_code=422,
            form=form,
            errors=field_errors(exc, known=frozenset(_FIELDS)),
            panels=[],
            query="",
            **choices,
        )
    shown = {k: v for k, v in filters.items() if v is not None}
    return render(
        request,
        "reports/dashboard.html",
        form=form
        | {k: str(v) for k, v in shown.items() if k in ("date_from", "date_to")},
        errors={},
        panels=panels,
        query=urlencode(_api_query(shown)),
        **choices,
    )


def _draw_panels(
    request: Request, user: User, today: date, filters: dict[str, Any]
) -> list[Panel]:
    """Every report's panel, in the order of ``REPORTS``; the first error any
    of them met is raised once all are done."""
    factory = request.app.state.session_factory
    baselines = request.app.state.roi_baselines

    def draw(name: str) -> Panel:
        with read_only(factory()) as session:
            report = run_report(
                session,
                user=user,
                name=name,
                today=today,
                baselines=baselines,
                summary=True,
                **filters,
            )
        return PANELS[name](report)

    # Each thread gets a copy of the request's context (its request id).
    order = sorted(REPORTS, key=_drawn_before)
    futures = {
        name: _PANEL_THREADS.submit(contextvars.copy_context().run, draw, name)
        for name in order
    }
    wait(futures.values())
    return [futures[name].result() for name in REPORTS]


def _drawn_before(name: str) -> int:
    return _DRAWING_ORDER.index(name) if name in _DRAWING_ORDER else len(REPORTS)


def _choices(session: Session, user: User) -> dict[str, list[tuple[str, str]]]:
    """The (value, text) options of the form's lists."""
    teams = session.execute(sa.select(Team.id, Team.name).order_by(Team.name))
    reasons = policy.active_policy(session).policy.reason_codes
    return {
        "teams": [("", "All teams"), *((str(i), name) for i, name in teams)],
        "agents": [("", "All agents"), *_agents(session, user)],
        "reasons": [("", "All reasons")]
        + [(code, item.label) for code, item in reasons.items()],
    }


def _agents(session: Session, user: User) -> list[tuple[str, str]]:
    # Those who may raise credits: everyone's for a role that sees every
    # credit, else the caller's own line.
    query = (
        sa.select(User.id, User.display_name)
        .where(User.role.in_(GRANTS[Permission.CREATE_CREDIT]))
        .order_by(User.display_name, User.id)
    )
    if not sees_everything(user):
        query = query.where(User.id.in_(line_below(session, user)))
    return [(str(i), name) for i, name in session.execute(query)]


def _parse(form: dict[str, str], today: date) -> dict[str, Any]:
    end = _date(form, "date_to") or today
    start = _date(form, "date_from") or end - timedelta(days=DASHBOARD_DAYS - 1)
    return {
        "date_from": start,
        "date_to": end,
        "team_id": _chosen(form, "team"),
        "agent_id": _chosen(form, "agent"),
        "product": form["product"].strip() or None,
        "reason": form["reason"].strip() or None,
        "currency": form["currency"].strip().upper() or None,
        "convert_to": form["convert_to"].strip().upper() or None,
    }


def _chosen(form: dict[str, str], name: str) -> int | None:
    text = form[name].strip()
    chosen = form_id(text)
    if text and chosen is None:
        raise ValidationFailed.on(name, f"choose a {name} from the list")
    return chosen


def _date(form: dict[str, str], name: str) -> date | None:
    text = form[name].strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed.on(name, "enter a date as 2026-03-31") from None


def _api_query(filters: dict) -> dict[str, str]:
    names = {"team_id": "team", "agent_id": "agent"}
    return {names.get(k, k): str(v) for k, v in filters.items()}
