"""The ``creditdesk`` command: run the service, migrate, and administer it.

Every command reads its settings from the environment (``CREDITDESK_*``),
opens its own unit of work and acts as the operator at the terminal.
"""

import contextlib
import signal
from datetime import timedelta
from typing import Annotated

import sqlalchemy as sa
import structlog
import typer
import uvicorn
from rich import box
from rich.console import Console
from rich.table import Table

from creditdesk import migrations
from creditdesk.access import service as access
from creditdesk.app import create_app
from creditdesk.audit import cli as audit_cli
from creditdesk.auth import cli as tokens_cli
from creditdesk.cli_support import (
    EXIT_SETUP_ERROR,
    cli_actor,
    cli_errors,
    database,
    fail,
    masked_url,
    require_current_schema,
    unit_of_work,
)
from creditdesk.clock import system_clock
from creditdesk.config import Settings, get_settings
from creditdesk.demo.cli import write_scaled_history
from creditdesk.demo.service import DEMO_PASSWORD, build_demo, give_passwords
from creditdesk.integrations import cli as fake_billing_cli
from creditdesk.invoices import cli as invoices_cli
from creditdesk.logs import configure_logging
from creditdesk.outbox import cli as outbox_cli
from creditdesk.outbox.worker import Worker
from creditdesk.policy import cli as policy_cli
from creditdesk.policy import service as policy
from creditdesk.reconciliation.cli import reconcile
from creditdesk.reports import cli as reports_cli
from creditdesk.users import cli as users_cli
from creditdesk.users.models import User

log = structlog.get_logger(__name__)

app = typer.Typer(
    name="creditdesk",
    help="Governed billing credits: policy, approvals, posting and audit.",
    no_args_is_help=True,
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)

app.add_typer(db_app, name="db")
app.add_typer(users_cli.app, name="users")
app.add_typer(tokens_cli.app, name="tokens")
app.add_typer(policy_cli.app, name="policy")
app.add_typer(audit_cli.app, name="audit")
app.add_typer(outbox_cli.app, name="outbox")
app.add_typer(fake_billing_cli.app, name="fake-billing")
app.add_typer(reports_cli.app, name="reports")
app.add_typer(invoices_cli.app, name="invoices")
app.command("reconcile")(reconcile)


@app.callback()
def main() -> None:
    """Governed billing credits: policy, approvals, posting and audit."""
    settings = get_settings()
    # Logs go to stderr, so stdout carries only a command's result.
    configure_logging(level=settings.log_level, json=settings.json_logs)


def _check_for_production(settings: Settings) -> None:
    try:
        settings.check_for_production()
    except ValueError as exc:
        raise fail(str(exc), EXIT_SETUP_ERROR) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    no_worker: Annotated[
        bool,
        typer.Option(
            "--no-worker", help="Do not run the outbox worker in this process."
        ),
    ] = False,
) -> None:
    """Run the API and web UI (with the outbox worker unless --no-worker)."""
    settings = get_settings()
    _check_for_production(settings)
    require_current_schema(settings)

    log.info("server.starting", host=host, port=port, worker=not no_worker)
    # One process: scale out with more processes behind a load balancer, and
    # the request id middleware already logs through structlog.
    uvicorn.run(
        create_app(settings, start_worker=not no_worker, freeze_startup_objects=True),
        host=host,
        port=port,
        access_log=False,
        log_level=settings.log_level.lower(),
    )


@app.command()
def worker() -> None:
    """Deliver outbox messages until Ctrl-C or SIGTERM."""
    settings = get_settings()
    _check_for_production(settings)
    require_current_schema(settings)

    with database(settings) as factory:
        runner = Worker(factory, clock=system_clock, settings=settings)
        _run_until_signalled(runner)


def _run_until_signalled(runner: Worker) -> None:
    if not hasattr(signal, "sigwait"):
        # Windows has no sigwait; Ctrl-C interrupts wherever the worker is,
        # and an interrupted message comes back when its lease expires.
        with contextlib.suppress(KeyboardInterrupt):
            runner.run_forever()
        return

    # A signal handler that logs or sets an event can deadlock on a lock the
    # interrupted code holds, so the signals are blocked and awaited instead;
    # the worker thread inherits the mask and never sees them.
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    runner.start()
    received = signal.sigwait(stop_signals)
    log.info("worker.stopping", signal=signal.Signals(received).name)
    runner.stop()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the schema to the latest version and install the default policy."""
    settings = get_settings()
    with cli_errors(settings):
        migrations.upgrade(settings.effective_database_url)

    with unit_of_work(settings) as session:
        version = policy.active_policy(
            session, now=system_clock(), actor=cli_actor()
        ).version

    typer.echo(
        f"{masked_url(settings)} is up to date; policy version {version} in force"
    )


@app.command()
def demo(
    if_empty: Annotated[
        bool,
        typer.Option(
            "--if-empty", help="Do nothing if the database already has users."
        ),
    ] = False,
    scale: Annotated[
        int | None,
        typer.Option(
            "--scale",
            min=1,
            help="Also write a generated history of this many credits.",
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the generated history.")
    ] = 0,
) -> None:
    """Build the demo organisation (idempotent) and print a token per user.

    Demo users without a password get the demo password for the console. With
    --scale N, also write two years of generated history with N credits (see
    README, "A large history"); a database that has one already is left as it
    is.
    """
    settings = get_settings()
    now = system_clock()
    ttl = timedelta(days=settings.token_ttl_days)

    with unit_of_work(settings) as session:
        if if_empty and session.scalar(sa.select(User.id).limit(1)) is not None:
            typer.echo("the database already has users: demo skipped", err=True)
            return
        actor = cli_actor()
        org = build_demo(session, actor=actor, now=now)
        if settings.env != "production":
            give_passwords(session, org, actor=actor, now=now)
        rows = [
            (
                user.username,
                user.role.value,
                user.team.name if user.team else "-",
                user.manager.username if user.manager else "-",
                access.issue_token(
                    session, user=user, actor=actor, now=now, ttl=ttl, name="demo"
                ),
            )
            for user in org.users
        ]

    _print_demo(rows, created=org.created)
    if settings.env != "production":
        typer.echo(
            "Web console: http://127.0.0.1:8000/ - sign in as any user above "
            f"with the password {DEMO_PASSWORD}"
        )
    if scale is not None:
        write_scaled_history(settings, scale=scale, seed=seed)


def _print_demo(rows: list[tuple[str, ...]], *, created: int) -> None:
    table = Table(box=box.SIMPLE, title="creditdesk demo users")
    table.add_column("user", no_wrap=True)
    table.add_column("role", no_wrap=True)
    table.add_column("team")
    table.add_column("manager", no_wrap=True)
    # A token broken over two lines cannot be copied; never wrap it.
    table.add_column("token (Authorization: Bearer ...)", no_wrap=True)
    for row in rows:
        table.add_row(*row)

    console = Console()
    if not console.is_terminal:
        # Piped or captured output has no width to respect: keep whole rows.
        console = Console(width=200)
    console.print(table)
    console.print(f"{created} demo records created by this run")
