"""``creditdesk tokens``: issue, list and revoke API tokens for users.

The operator at the terminal acts for the system, so these commands reach
any user's tokens; the rules for a user managing their own live in
:mod:`creditdesk.auth.tokens`.
"""

from datetime import timedelta
from typing import Annotated

import typer

from creditdesk.access import service as access
from creditdesk.auth import tokens
from creditdesk.auth.scopes import ALL_SCOPES, check_requested
from creditdesk.cli_support import cli_actor, fail, unit_of_work
from creditdesk.clock import system_clock
from creditdesk.config import get_settings
from creditdesk.errors import InvalidState
from creditdesk.users import service as users

app = typer.Typer(help="Issue, list and revoke API tokens.", no_args_is_help=True)


@app.command("issue")
def issue(
    username: Annotated[str, typer.Argument(help="Whose token it is.")],
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help=f"Repeat for each of {', '.join(ALL_SCOPES)} "
            "[default: all the user's role allows].",
        ),
    ] = None,
    expires_in_days: Annotated[
        int | None,
        typer.Option(
            "--expires-in-days",
            "--ttl-days",
            min=1,
            help="Days until it expires [default: settings].",
        ),
    ] = None,
    name: Annotated[str, typer.Option(help="A label to recognise it by.")] = "cli",
) -> None:
    """Issue an API token and print only the token, for scripts."""
    settings = get_settings()
    days = expires_in_days or settings.token_ttl_days

    with unit_of_work(settings) as session:
        user = users.get_by_username(session, username)
        if not user.is_active:
            raise InvalidState(f"{username!r} is deactivated")
        chosen = None
        if scope:
            chosen = check_requested(scope, allowed=access.role_scopes(user.role))
        token = access.issue_token(
            session,
            user=user,
            actor=cli_actor(),
            now=system_clock(),
            ttl=timedelta(days=days),
            name=name,
            scopes=chosen,
        )

    typer.echo(token)


@app.command("list")
def list_tokens(
    username: Annotated[str, typer.Argument(help="Whose tokens to show.")],
) -> None:
    """Show a user's tokens (never their secrets), newest first."""
    with unit_of_work() as session:
        user = users.get_by_username(session, username)
        rows = [
            (
                str(t.id),
                t.prefix,
                t.name,
                ",".join(t.scopes),
                t.expires_at.isoformat() if t.expires_at else "-",
                t.revoked_at.isoformat() if t.revoked_at else "-",
            )
            for t in tokens.tokens_of(session, user_id=user.id)
        ]

    typer.echo("id\tprefix\tname\tscopes\texpires_at\trevoked_at")
    for row in rows:
        typer.echo("\t".join(row))


@app.command("revoke")
def revoke(
    token_id: Annotated[
        int | None, typer.Option("--id", help="The token's id.")
    ] = None,
    prefix: Annotated[
        str | None, typer.Option(help="The token's prefix, such as cdt_AbC123.")
    ] = None,
    all_for: Annotated[
        str | None,
        typer.Option("--all-for", help="Revoke every live token of this user."),
    ] = None,
) -> None:
    """Revoke tokens by id, by prefix or all of one user's. Servers notice
    within CREDITDESK_AUTH_CACHE_SECONDS."""
    if sum(v is not None for v in (token_id, prefix, all_for)) != 1:
        raise fail("give exactly one of --id, --prefix and --all-for")

    with unit_of_work() as session:
        if all_for is not None:
            users.get_by_username(session, all_for)
        found = tokens.find_tokens(
            session, token_id=token_id, prefix=prefix, username=all_for
        )
        if not found and all_for is None:
            raise fail("no live token matches")
        count = tokens.revoke_tokens(
            session, tokens=found, actor=cli_actor(), now=system_clock(), cache=None
        )

    typer.echo(f"revoked {count} token{'' if count == 1 else 's'}")
