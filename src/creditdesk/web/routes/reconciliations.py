"""Reconciliation runs: the list, starting one, a run's findings and their
CSV, from the same service as ``/api/v1/reconciliations``. Finance and
admins start runs; auditors may read them too."""

import itertools
from collections.abc import Iterator

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy.orm import Session

from creditdesk.access.fields import view_for
from creditdesk.access.service import Permission, can, require
from creditdesk.accounts.models import BillingSystem
from creditdesk.api.deps import Now, ReadSession
from creditdesk.credits.models import format_number
from creditdesk.db import read_only
from creditdesk.errors import DomainError, FieldIssue, ValidationFailed
from creditdesk.reconciliation import service
from creditdesk.reconciliation.models import FindingKind
from creditdesk.reconciliation.schemas import FindingOut, RunIn, csv_rows
from creditdesk.reconciliation.sources import source_for
from creditdesk.users.models import User
from creditdesk.web.deps import Form, WebActor, WebUser
from creditdesk.web.forms import field_errors
from creditdesk.web.render import flash, render, secure

router = APIRouter(include_in_schema=False)

FINDING_ROWS = 200
_RUN_FIELDS = frozenset({"system", "from", "to"})
_SYSTEMS = [(s.value, s.value.replace("_", " ").capitalize()) for s in BillingSystem]
_KINDS = [kind.value for kind in FindingKind]


@router.get("/ops/reconciliations")
def runs_page(
    request: Request, session: ReadSession, user: WebUser, now: Now
) -> Response:
    """The latest runs, newest first, and the form to start one."""
    today = now.date()
    values = {
        "system": BillingSystem.LEDGER.value,
        "from": today.replace(day=1).isoformat(),
        "to": today.isoformat(),
    }
    return _render_runs(request, session, user, values, {})


@router.post("/ops/reconciliations")
def start_run(request: Request, form: Form, user: WebUser, actor: WebActor) -> Response:
    """Reconcile a billing system's memos for the period and show the run.

    The run writes in transactions of its own (as the API's does), so this
    handler holds no request transaction while the vendor is read.
    """
    # TODO(web-reconcile): the run happens inside the request, as the API's
    # does, so a long period against a slow vendor keeps the browser waiting;
    # a worker job with a page that shows the run's progress would fix it.
    require(user, Permission.RUN_RECONCILIATION)
    values = {name: form.get(name, "").strip() for name in _RUN_FIELDS}
    factory = request.app.state.session_factory
    try:
        body = _run_in(values)
        run_id = service.reconcile(
            factory,
            system=body.system,
            source=source_for(body.system.value, factory),
            start=body.start,
            end=body.end,
            user=user,
            actor=actor,
            now=request.app.state.clock,
        )
    except DomainError as exc:
        errors = field_errors(exc, known=_RUN_FIELDS)
        with read_only(factory()) as session:
            return _render_runs(
                request, session, user, values, errors, status_code=exc.status
            )
    response = secure(
        RedirectResponse(f"/ops/reconciliations/{run_id}", status_code=303)
    )
    return flash(request, response, f"Reconciliation {run_id} finished.")


@router.get("/ops/reconciliations/{run_id}")
def run_page(
    run_id: int, request: Request, session: ReadSession, user: WebUser, kind: str = ""
) -> Response:
    """One run: its counts per kind and its findings (one kind, or all)."""
    run = service.get_run(session, user=user, run_id=run_id)
    errors: dict[str, str] = {}
    if kind and kind not in _KINDS:
        errors["kind"] = f"there is no finding kind {kind!r}; choose one from the list"
    chosen = FindingKind(kind) if kind in _KINDS else None

    amounts = view_for(session, user).can_read("amount")
    found = service.findings(session, user=user, run_id=run.id, kind=chosen)
    rows = [
        FindingOut.of(f, amounts=amounts)
        for f in itertools.islice(found, FINDING_ROWS + 1)
    ]
    return render(
        request,
        "ops/run.html",
        status_code=422 if errors else 200,
        run=run,
        findings=rows[:FINDING_ROWS],
        more=len(rows) > FINDING_ROWS,
        kind=chosen.value if chosen else "",
        kind_options=[("", "All kinds")] + [(k, k.capitalize()) for k in _KINDS],
        errors=errors,
        credit_number=format_number,
        show_amount=amounts,
    )


@router.get("/ops/reconciliations/{run_id}/findings.csv")
def findings_csv(
    run_id: int, request: Request, user: WebUser, kind: str = ""
) -> Response:
    """The run's findings (one kind, or all) as CSV: the API's own export,
    amounts and all only for a role that may read them."""
    if kind and kind not in _KINDS:
        raise ValidationFailed.on("kind", f"there is no finding kind {kind!r}")
    chosen = FindingKind(kind) if kind else None
    factory = request.app.state.session_factory
    with read_only(factory()) as session:
        service.get_run(session, user=user, run_id=run_id)
        amounts = view_for(session, user).can_read("amount")

    def rows() -> Iterator[str]:
        with read_only(factory()) as session:
            found = service.findings(session, user=user, run_id=run_id, kind=chosen)
            yield from csv_rows(found, amounts=amounts)

    suffix = f"-{kind}" if kind else ""
    filename = f"reconciliation-{run_id}{suffix}.csv"
    response = StreamingResponse(
        rows(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
    return secure(response)


def _run_in(values: dict[str, str]) -> RunIn:
    """The form checked as the API checks its body; errors name the field."""
    try:
        return RunIn.model_validate(values)
    except ValidationError as exc:
        issues = [
            FieldIssue(str(e["loc"][0]) if e.get("loc") else "form", _message(e))
            for e in exc.errors()
        ]
        raise ValidationFailed(issues[0].message, issues) from None


def _message(error: ErrorDetails) -> str:
    if error["type"] == "enum":
        return "choose a billing system from the list"
    if error["type"] == "missing" or error["type"].startswith("date"):
        return "enter a date such as 2026-03-31"
    return error["msg"]


def _render_runs(
    request: Request,
    session: Session,
    user: User,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "ops/reconciliations.html",
        status_code=status_code,
        runs=service.list_runs(session, user=user),
        may_run=can(user, Permission.RUN_RECONCILIATION),
        systems=_SYSTEMS,
        values=values,
        errors=errors,
    )
