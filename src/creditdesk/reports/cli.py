"""``creditdesk reports``: a report to a file, and exchange rates, from the
terminal (for a scheduled export, say). A report is run as a named user, so
it shows exactly what that user would see."""

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from creditdesk.cli_support import (
    acting_user,
    cli_errors,
    database,
    date_option,
    unit_of_work,
)
from creditdesk.clock import system_clock
from creditdesk.config import get_settings
from creditdesk.db import read_only
from creditdesk.reports import export, rates
from creditdesk.reports.service import REPORTS, run_report
from creditdesk.reports.settings import RoiBaselines

app = typer.Typer(help="Reports and exchange rates.", no_args_is_help=True)


class Format(StrEnum):
    JSON = "json"
    CSV = "csv"
    XLSX = "xlsx"


@app.command("run")
def run(
    name: Annotated[str, typer.Argument(help=", ".join(REPORTS))],
    *,
    as_user: Annotated[
        str, typer.Option("--as", help="Whose view: the username to run it as.")
    ],
    output: Annotated[
        Path | None, typer.Option(help="Write here instead of standard output.")
    ] = None,
    format: Annotated[Format, typer.Option(help="json, csv or xlsx")] = Format.CSV,
    date_from: Annotated[str | None, typer.Option("--from")] = None,
    date_to: Annotated[str | None, typer.Option("--to")] = None,
    team: int | None = None,
    agent: int | None = None,
    product: str | None = None,
    reason: str | None = None,
    currency: str | None = None,
    convert_to: str | None = None,
) -> None:
    """Run a report as a user and write it as JSON, CSV or XLSX."""
    if format is Format.XLSX and output is None:
        raise typer.BadParameter("XLSX needs --output", param_hint="--output")
    settings = get_settings()
    with (
        cli_errors(settings),
        database(settings) as factory,
        read_only(factory()) as session,
    ):
        user, _ = acting_user(session, as_user)
        report = run_report(
            session,
            user=user,
            name=name,
            today=system_clock().date(),
            baselines=RoiBaselines(),
            date_from=date_option(date_from, "--from"),
            date_to=date_option(date_to, "--to"),
            team_id=team,
            agent_id=agent,
            product=product,
            reason=reason,
            currency=currency,
            convert_to=convert_to,
        )
        if format is Format.XLSX:
            content: str | bytes = export.to_xlsx(report)
        elif format is Format.CSV:
            content = export.to_csv(report)
        else:
            content = export.to_json(report)

    if output is None:
        typer.echo(content, nl=False)
    elif isinstance(content, bytes):
        output.write_bytes(content)
    else:
        output.write_text(content, encoding="utf-8")


@app.command("add-rate")
def add_rate(
    base: Annotated[str, typer.Argument(help="The currency converted, e.g. EUR")],
    quote: Annotated[str, typer.Argument(help="The currency it becomes, e.g. GBP")],
    effective_on: Annotated[str, typer.Argument(help="From this day, 2026-01-31")],
    rate: Annotated[str, typer.Argument(help="One base in quote, e.g. 0.8532")],
    *,
    as_user: Annotated[str, typer.Option("--as", help="An administrator.")],
) -> None:
    """Add a dated exchange rate (audited), as an administrator."""
    with unit_of_work() as session:
        admin, actor = acting_user(session, as_user)
        row = rates.add_rate(
            session,
            admin=admin,
            base=base,
            quote=quote,
            effective_on=date_option(effective_on, "EFFECTIVE_ON"),
            rate=rate,
            actor=actor,
            now=system_clock(),
        )
        typer.echo(f"{row.base}/{row.quote} from {row.effective_on}: {row.rate}")
