"""``creditdesk users`` and ``creditdesk tokens``: accounts for people.

Tokens live here because the CLI issues them to a user by username; the
token rules themselves belong to :mod:`creditdesk.access.service`.
"""

from datetime import timedelta
from typing import Annotated

import typer

from creditdesk.access import service as access
from creditdesk.cli_support import cli_actor, unit_of_work
from creditdesk.clock import system_clock
from creditdesk.config import get_settings
from creditdesk.errors import InvalidState
from creditdesk.users import service
from creditdesk.users.models import Role
from creditdesk.users.schemas import UserOut

app = typer.Typer(help="Create and look up users.", no_args_is_help=True)
tokens_app = typer.Typer(help="Issue API tokens.", no_args_is_help=True)


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


@tokens_app.command("issue")
def issue(
    username: Annotated[str, typer.Argument(help="Whose token it is.")],
    ttl_days: Annotated[
        int | None,
        typer.Option(min=1, help="Days until it expires [default: settings]."),
    ] = None,
) -> None:
    """Issue an API token and print only the token, for scripts."""
    settings = get_settings()
    days = ttl_days or settings.token_ttl_days

    with unit_of_work(settings) as session:
        user = service.get_by_username(session, username)
        if not user.is_active:
            raise InvalidState(f"{username!r} is deactivated")
        token = access.issue_token(
            session,
            user=user,
            actor=cli_actor(),
            now=system_clock(),
            ttl=timedelta(days=days),
        )

    typer.echo(token)
