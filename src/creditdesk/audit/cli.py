"""``creditdesk audit``: check the audit trail from the terminal."""

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from sqlalchemy.engine import Engine

from creditdesk.audit import service
from creditdesk.cli_support import cli_errors
from creditdesk.config import get_settings
from creditdesk.db import create_engine

app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)

EXIT_BROKEN = 1


@app.callback()
def audit() -> None:
    """The tamper-evident audit trail."""


@app.command()
def verify(
    workers: Annotated[
        int | None,
        typer.Option(help="processes for a SQLite chain (default: two when large)"),
    ] = None,
) -> None:
    """Check every entry's hash and link, and the chain head.

    Exits 0 when the trail is intact and 1 naming the first bad entry.
    """
    settings = get_settings()
    with cli_errors(settings):
        engine = create_engine(settings.effective_database_url)
        try:
            result = _verify(engine, workers)
        finally:
            engine.dispose()

    if result.ok:
        typer.echo(f"audit trail intact: {result.checked} entries")
        return
    seq = "-" if result.first_bad_seq is None else result.first_bad_seq
    typer.echo(f"audit trail broken at seq {seq}: {result.problem}", err=True)
    raise typer.Exit(EXIT_BROKEN)


def _verify(engine: Engine, workers: int | None) -> service.VerifyResult:
    console = Console(stderr=True)
    if not console.is_terminal:
        return service.verify(engine, workers=workers)

    columns = (
        *Progress.get_default_columns()[:1],
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("verifying the audit trail", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return service.verify(engine, progress=progress, workers=workers)
