"""``creditdesk outbox``: the outbox's messages from the terminal, and
retrying or cancelling one.

Retrying and cancelling are billing operations: the command names the finance
or admin user it acts as (``--as``), and the audit trail records that user on
the ``cli`` channel.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from creditdesk.actors import Actor
from creditdesk.cli_support import acting_user, fail, unit_of_work
from creditdesk.clock import system_clock
from creditdesk.config import get_settings
from creditdesk.errors import DomainError, InvalidState
from creditdesk.outbox import operations, service
from creditdesk.outbox.models import OutboxMessage, OutboxStatus
from creditdesk.users.models import User

app = typer.Typer(
    help="Outbox messages: list, retry and cancel them.", no_args_is_help=True
)

# Refused or not found; the same status as `audit verify` finding a break.
EXIT_REFUSED = 1
_ERROR_CHARS = 60

AsUser = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="The finance or admin user you act as (required; audited).",
        show_default=False,
    ),
]


@contextmanager
def _refusals() -> Iterator[None]:
    # Inside the unit of work, so the transaction rolls back on the way out.
    try:
        yield
    except DomainError as exc:
        raise fail(exc.detail, EXIT_REFUSED) from None


def _operator(session: Session, username: str | None) -> tuple[User, Actor]:
    if not username:
        raise InvalidState(
            "name the finance or admin user you act as with --as USERNAME"
        )
    user, actor = acting_user(session, username)
    operations.require_operator(user)
    return user, actor


@app.command("list")
def list_messages(
    status: Annotated[
        OutboxStatus | None, typer.Option(help="Only messages in this status.")
    ] = None,
    topic: Annotated[str | None, typer.Option(help="Only this topic.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Show messages, newest first."""
    with unit_of_work() as session:
        rows = [
            _row(m)
            for m in service.list_messages(
                session, status=status, topic=topic, limit=limit
            )
        ]

    table = Table(box=box.SIMPLE, title="outbox messages")
    for name in ("id", "topic", "status", "attempts", "available_at", "last_error"):
        table.add_column(name, no_wrap=name != "last_error")
    for row in rows:
        table.add_row(*row)
    console = Console()
    if not console.is_terminal:
        # Captured or piped output has no width to respect: keep whole rows.
        console = Console(width=200)
    console.print(table)
    console.print(f"{len(rows)} message{'' if len(rows) == 1 else 's'}")


def _row(message: OutboxMessage) -> tuple[str, ...]:
    error = message.last_error or "-"
    if len(error) > _ERROR_CHARS:
        error = error[: _ERROR_CHARS - 1] + "…"
    return (
        str(message.id),
        message.topic,
        message.status.value,
        str(message.attempts),
        message.available_at.isoformat(timespec="seconds"),
        error,
    )


@app.command("retry")
def retry(
    message_id: Annotated[int, typer.Argument(help="The message's id.")],
    as_user: AsUser = None,
    comment: Annotated[
        str | None, typer.Option(help="Why it is retried (for the audit).")
    ] = None,
) -> None:
    """Put a dead message back in the queue with a fresh set of attempts."""
    with unit_of_work(get_settings()) as session, _refusals():
        user, actor = _operator(session, as_user)
        message = operations.retry_message(
            session,
            message_id,
            user=user,
            comment=comment,
            actor=actor,
            now=system_clock(),
        )
        shown = (message.id, message.topic)

    typer.echo(f"outbox message {shown[0]} ({shown[1]}) queued again")


@app.command("cancel")
def cancel(
    message_id: Annotated[int, typer.Argument(help="The message's id.")],
    comment: Annotated[str, typer.Option(help="Why it is cancelled (for the audit).")],
    as_user: AsUser = None,
) -> None:
    """Cancel a pending or dead message; a failed credit's posting voids the
    credit, and so does a reversal (left unreversed at the billing system)."""
    settings = get_settings()
    with unit_of_work(settings) as session, _refusals():
        if not comment.strip():
            raise InvalidState("--comment must say why")
        user, actor = _operator(session, as_user)
        message = operations.cancel_message(
            session,
            message_id,
            user=user,
            comment=comment,
            actor=actor,
            now=system_clock(),
            settings=settings,
        )
        shown = (message.id, message.topic)

    typer.echo(f"outbox message {shown[0]} ({shown[1]}) cancelled")
