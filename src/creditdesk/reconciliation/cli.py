"""``creditdesk reconcile``: compare a billing system with our credits for a
period, with a progress bar, and print what was found.

The command acts as a finance or admin user named with ``--as``, who is
recorded on the run and in the audit trail (channel ``cli``).
"""

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from creditdesk.access import service as access
from creditdesk.access.fields import view_for
from creditdesk.accounts.models import BillingSystem
from creditdesk.actors import Channel
from creditdesk.cli_support import cli_errors, database, fail
from creditdesk.clock import system_clock
from creditdesk.config import get_settings
from creditdesk.db import transaction
from creditdesk.errors import DomainError
from creditdesk.reconciliation import service
from creditdesk.reconciliation.models import ReconciliationRun
from creditdesk.reconciliation.schemas import csv_rows
from creditdesk.reconciliation.sources import source_for
from creditdesk.users import service as users

EXIT_REFUSED = 1


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date like 2026-11-30") from None


def reconcile(
    system: Annotated[BillingSystem, typer.Option(help="The billing system.")],
    start: Annotated[
        str, typer.Option("--from", help="First day, inclusive (YYYY-MM-DD).")
    ],
    end: Annotated[str, typer.Option("--to", help="Last day, inclusive.")],
    as_user: Annotated[
        str, typer.Option("--as", help="The finance or admin user you act as.")
    ],
    csv_path: Annotated[
        Path | None, typer.Option("--csv", help="Also write the findings here.")
    ] = None,
) -> None:
    """Match the system's credit memos with our approved credits."""
    first, last = _day(start), _day(end)
    settings = get_settings()
    console = Console()
    with cli_errors(settings), database(settings) as factory:
        with transaction(factory) as session:
            user = users.get_by_username(session, as_user)
            session.expunge(user)
        actor = access.actor_for(user, Channel.CLI)
        try:
            run_id = _run(factory, system, first, last, user, actor, console)
        except DomainError as exc:
            raise fail(exc.detail, EXIT_REFUSED) from None
        with factory() as session:
            run = service.get_run(session, user=user, run_id=run_id)
            _print(console, run)
            if csv_path is not None:
                # Amounts only for a user who may read them, as over the API.
                amounts = view_for(session, user).can_read("amount")
                found = service.findings(session, user=user, run_id=run_id)
                with csv_path.open("w", newline="") as out:
                    out.writelines(csv_rows(found, amounts=amounts))
                console.print(f"findings written to {csv_path}")


def _run(factory, system, first, last, user, actor, console) -> int:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(f"{system.value} memos", total=None)
        return service.reconcile(
            factory,
            system=system,
            source=source_for(system.value, factory),
            start=first,
            end=last,
            user=user,
            actor=actor,
            now=system_clock,
            progress=lambda done: bar.advance(task, done),
        )


def _print(console: Console, run: ReconciliationRun) -> None:
    table = Table(
        title=f"reconciliation {run.id}: {run.system}, "
        f"{run.period_start} to {run.period_end}"
    )
    for name in ("vendor memos", "matched", "untracked", "missing", "mismatched"):
        table.add_column(name, justify="right")
    table.add_row(
        *(
            str(value)
            for value in (
                run.vendor_memos,
                run.matched,
                run.untracked,
                run.missing,
                run.mismatched,
            )
        )
    )
    console.print(table)
    elapsed = (run.finished_at or datetime.now(run.started_at.tzinfo)) - run.started_at
    console.print(f"status {run.status.value}, {elapsed.total_seconds():.1f} s")
