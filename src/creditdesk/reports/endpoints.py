"""The reports API (JSON, CSV, XLSX) and the exchange rates administrators
keep for converted totals."""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import Response

from creditdesk.api.deps import CurrentActor, CurrentUser, DbSession, Now, ReadSession
from creditdesk.reports import export, rates
from creditdesk.reports.schemas import (
    ExchangeRateIn,
    ExchangeRateOut,
    ExchangeRatesOut,
    ReportLink,
    ReportOut,
)
from creditdesk.reports.scope import Report
from creditdesk.reports.service import REPORTS, run_report
from creditdesk.reports.settings import RoiBaselines

router = APIRouter(prefix="/reports", tags=["reports"])
rates_router = APIRouter(prefix="/admin/exchange-rates", tags=["admin"])

_NAMES = ", ".join(REPORTS)
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": f"No such report; the reports are {_NAMES}"},
    409: {"description": "convert_to needs an exchange rate that is missing"},
    422: {"description": "A filter is not valid; `field` names it"},
}


def report_filters(
    date_from: date | None = None,
    date_to: date | None = None,
    team: int | None = None,
    agent: int | None = None,
    product: Annotated[str | None, Query(max_length=100)] = None,
    reason: Annotated[str | None, Query(max_length=100)] = None,
    currency: Annotated[str | None, Query(max_length=3)] = None,
    convert_to: Annotated[str | None, Query(max_length=3)] = None,
) -> dict[str, Any]:
    """Filters every report takes: an inclusive UTC date range (default the
    365 days to today), team and agent ids, product, reason, `currency` (only
    records in it) and `convert_to` (amounts converted into it)."""
    return {
        "date_from": date_from,
        "date_to": date_to,
        "team_id": team,
        "agent_id": agent,
        "product": product,
        "reason": reason,
        "currency": currency,
        "convert_to": convert_to,
    }


Filters = Annotated[dict[str, Any], Depends(report_filters)]


def baselines_of(request: Request) -> RoiBaselines:
    return request.app.state.roi_baselines


Baselines = Annotated[RoiBaselines, Depends(baselines_of)]


def _run(
    session: ReadSession,
    user: CurrentUser,
    now: Now,
    baselines: Baselines,
    name: str,
    filters: dict[str, Any],
) -> Report:
    return run_report(
        session,
        user=user,
        name=name,
        today=now.date(),
        baselines=baselines,
        **filters,
    )


@router.get("")
def list_reports() -> list[ReportLink]:
    """The reports there are, with where to fetch each."""
    base = "/api/v1/reports/"
    return [
        ReportLink(
            name=name,
            title=title,
            json_url=base + name,
            csv=f"{base}{name}.csv",
            xlsx=f"{base}{name}.xlsx",
        )
        for name, (title, _build) in REPORTS.items()
    ]


@router.get("/{name}.csv", response_class=Response, responses=_ERRORS)
def report_csv(
    name: str,
    session: ReadSession,
    user: CurrentUser,
    now: Now,
    baselines: Baselines,
    filters: Filters,
) -> Response:
    """The report as CSV: every table stacked, the first column naming it."""
    report = _run(session, user, now, baselines, name, filters)
    return Response(
        export.to_csv(report),
        media_type="text/csv; charset=utf-8",
        headers=_attachment(name, "csv"),
    )


@router.get("/{name}.xlsx", response_class=Response, responses=_ERRORS)
def report_xlsx(
    name: str,
    session: ReadSession,
    user: CurrentUser,
    now: Now,
    baselines: Baselines,
    filters: Filters,
) -> Response:
    """The report as an XLSX workbook, one sheet per table."""
    report = _run(session, user, now, baselines, name, filters)
    return Response(
        export.to_xlsx(report),
        media_type=export.XLSX_TYPE,
        headers=_attachment(name, "xlsx"),
    )


@router.get("/{name}", responses=_ERRORS)
def report_json(
    name: str,
    session: ReadSession,
    user: CurrentUser,
    now: Now,
    baselines: Baselines,
    filters: Filters,
) -> ReportOut:
    """One report as JSON. Rows the caller may not see are not counted;
    amounts are left out for a role that may not see them."""
    report = _run(session, user, now, baselines, name, filters)
    return ReportOut(**report.as_json())


def _attachment(name: str, suffix: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}.{suffix}"'}


@rates_router.get("")
def list_exchange_rates(
    session: ReadSession,
    user: CurrentUser,
    base: Annotated[str | None, Query(max_length=3)] = None,
    quote: Annotated[str | None, Query(max_length=3)] = None,
) -> ExchangeRatesOut:
    """Every exchange rate, by pair, newest first."""
    found = rates.list_rates(session, admin=user, base=base, quote=quote)
    return ExchangeRatesOut(items=[ExchangeRateOut.of(r) for r in found])


@rates_router.post("", status_code=status.HTTP_201_CREATED)
def add_exchange_rate(
    body: ExchangeRateIn,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
) -> ExchangeRateOut:
    """Add a dated rate: one `base` is worth `rate` `quote` from
    `effective_on` until the pair's next rate. Audited; 409 if the pair has
    a rate that day already."""
    row = rates.add_rate(
        session,
        admin=user,
        base=body.base,
        quote=body.quote,
        effective_on=body.effective_on,
        rate=body.rate,
        actor=actor,
        now=now,
    )
    return ExchangeRateOut.of(row)
