from typing import Literal

from fastapi import APIRouter, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from creditdesk.access.fields import view_for
from creditdesk.api.deps import CurrentActor, CurrentUser, ReadSession
from creditdesk.db import read_only
from creditdesk.reconciliation import service
from creditdesk.reconciliation.models import FindingKind
from creditdesk.reconciliation.schemas import (
    FindingOut,
    RunIn,
    RunOut,
    csv_rows,
)
from creditdesk.reconciliation.sources import source_for

router = APIRouter(prefix="/reconciliations", tags=["reconciliation"])


class RunsOut(BaseModel):
    items: list[RunOut]


class FindingsOut(BaseModel):
    items: list[FindingOut]
    amounts: Literal["shown", "hidden"] = Field(
        description="hidden: the caller's role may not read a credit's amount, "
        "so every amount is null and a mismatch's detail does not quote them"
    )


@router.post("", status_code=status.HTTP_201_CREATED)
def start_run(
    body: RunIn, request: Request, user: CurrentUser, actor: CurrentActor
) -> RunOut:
    """Compare the billing system's credit memos for the period (`from`,
    `to`, inclusive dates) with our credits: `matched`, `untracked` (there,
    with no approved credit here), `missing` (approved here, absent there)
    and `mismatched` (amount, currency or account differ). Finance and
    admins; the answer is the finished run."""
    factory = request.app.state.session_factory
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
    with factory() as session:
        return RunOut.of(service.get_run(session, user=user, run_id=run_id))


@router.get("")
def list_runs(session: ReadSession, user: CurrentUser) -> RunsOut:
    """The latest runs, newest first (finance, admins and auditors)."""
    return RunsOut(items=[RunOut.of(r) for r in service.list_runs(session, user=user)])


@router.get("/{run_id}")
def get_run(run_id: int, session: ReadSession, user: CurrentUser) -> RunOut:
    return RunOut.of(service.get_run(session, user=user, run_id=run_id))


@router.get("/{run_id}/findings")
def list_findings(
    run_id: int,
    session: ReadSession,
    user: CurrentUser,
    kind: FindingKind | None = None,
) -> FindingsOut:
    """The run's discrepancies, as JSON, with amounts only for a caller who
    may read a credit's amount."""
    amounts = view_for(session, user).can_read("amount")
    found = service.findings(session, user=user, run_id=run_id, kind=kind)
    return FindingsOut(
        items=[FindingOut.of(f, amounts=amounts) for f in found],
        amounts="shown" if amounts else "hidden",
    )


@router.get("/{run_id}/findings.csv", response_class=StreamingResponse)
def export_findings(
    run_id: int,
    request: Request,
    user: CurrentUser,
    kind: FindingKind | None = None,
) -> StreamingResponse:
    """The run's discrepancies as CSV, streamed row by row; the amount
    columns only for a caller who may read a credit's amount."""
    factory = request.app.state.session_factory
    with read_only(factory()) as session:
        service.get_run(session, user=user, run_id=run_id)
        amounts = view_for(session, user).can_read("amount")

    def rows():
        with read_only(factory()) as session:
            found = service.findings(session, user=user, run_id=run_id, kind=kind)
            yield from csv_rows(found, amounts=amounts)

    filename = f"reconciliation-{run_id}.csv"
    return StreamingResponse(
        rows(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
