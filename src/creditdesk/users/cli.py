"""``creditdesk users``: accounts for people."""

import sys
from typing import Annotated

import typer

from creditdesk.auth import passwords
from creditdesk.cli_support import cli_actor, unit_of_work
from creditdesk.clock import system_clock
from creditdesk.users import service
from creditdesk.users.models import Role
from creditdesk.users.schemas import UserOut

app = typer.Typer(help="Create and look up users.", no_args_is_help=True)


@app.command("create")
def create(
    username: Annotated[str, typer.Argument(help="3-64 characters of a-z 0-9 . _ -")],
    *,
    role: Annotated[Role, typer.Option(help="What the user may do.")],
    team: Annotated[
        str | None, typer.Option(help="Team name; created if it does not exist.")
    ] = None,
    manager: Annotated[
        str | None, typer.Option(help="Username of the person they report to.")
    ] = None,
    display_name: Annotated[
        str | None, typer.Option(help="Full name; defaults to the username.")
    ] = None,
    email: Annotated[str | None, typer.Option(help="E-mail address.")] = None,
) -> None:
    """Create a user and print it."""
    with unit_of_work() as session:
        user = service.create_user(
            session,
            username=username,
            display_name=display_name,
            email=email,
            role=role,
            team=team,
            manager=manager,
            actor=cli_actor(),
            now=system_clock(),
        )
        shown = UserOut.of(user)

    for name, value in shown.model_dump(mode="json").items():
        typer.echo(f"{name:<14}{'-' if value is None else value}")


@app.command("passwd")
def passwd(
    username: Annotated[str, typer.Argument(help="Whose password to set.")],
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read the password from the first line of stdin."
        ),
    ] = False,
) -> None:
    """Set a user's password (asked twice, hidden), ending their web sessions."""
    password = _read_password(password_stdin)
    with unit_of_work() as session:
        user = service.get_by_username(session, username)
        passwords.set_password(
            session, user=user, password=password, actor=cli_actor(), now=system_clock()
        )

    typer.echo(f"password changed for {username}", err=True)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        # Only the line break is the shell's; spaces belong to the password.
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("New password", hide_input=True, confirmation_prompt=True)
