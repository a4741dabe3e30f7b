"""``creditdesk policy``: show the policy in force and apply a new version."""

from pathlib import Path
from typing import Annotated

import typer

from creditdesk.cli_support import cli_actor, unit_of_work
from creditdesk.clock import system_clock
from creditdesk.policy import service

app = typer.Typer(help="The credit policy.", no_args_is_help=True)


@app.command("show")
def show() -> None:
    """Print the version in force and its YAML document."""
    now = system_clock()
    with unit_of_work() as session:
        active = service.active_policy(session, now=now, actor=cli_actor())
        row = service.version_row(session, active.version)

    typer.echo(f"# policy version {row.version}, applied by {row.created_by}")
    typer.echo(row.document.rstrip("\n"))


@app.command("apply")
def apply(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="The YAML policy."
        ),
    ],
    comment: Annotated[
        str | None, typer.Option(help="Why the policy changes (for the audit).")
    ] = None,
) -> None:
    """Validate FILE and put it in force as the next policy version."""
    text = file.read_text(encoding="utf-8")

    # A validation error leaves unit_of_work as exit status 2 with each
    # path and message on stderr.
    with unit_of_work() as session:
        row = service.apply_policy(
            session, text=text, actor=cli_actor(), now=system_clock(), comment=comment
        )
        version = row.version

    typer.echo(f"policy version {version} is now in force")
