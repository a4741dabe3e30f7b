"""What every CLI command shares: the unit of work, the actor and error output.

A command opens one transaction with :func:`unit_of_work`; a domain error
inside it rolls the work back, prints the reason on stderr and exits with
status 2, and a database without the schema gets a hint instead of a
traceback.
"""

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import sqlalchemy as sa
import typer
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.orm import Session, sessionmaker

from creditdesk import migrations
from creditdesk.access import service as access
from creditdesk.actors import Actor, Channel
from creditdesk.config import Settings, get_settings
from creditdesk.db import create_engine, make_session_factory, transaction
from creditdesk.errors import DomainError, InvalidState
from creditdesk.users import service as users
from creditdesk.users.models import User

# 2 for a refused request (as for a usage error); 1 when the installation
# itself is not ready: no schema, no database, unsafe settings.
EXIT_DOMAIN_ERROR = 2
EXIT_SETUP_ERROR = 1
ACTOR_NAME_MAX = 100

_NO_SCHEMA = "the database has no creditdesk schema yet: run `creditdesk db upgrade`"

# PostgreSQL's SQLSTATE for "relation does not exist".
_UNDEFINED_TABLE = "42P01"


def cli_actor() -> Actor:
    """The operator at the terminal, as the audit trail should name them."""
    try:
        login = getpass.getuser()
    except (OSError, KeyError):
        # Containers often run as a uid with no passwd entry and no $USER.
        login = "unknown"
    return Actor.system(Channel.CLI, name=f"cli:{login}"[:ACTOR_NAME_MAX])


def acting_user(session: Session, username: str) -> tuple[User, Actor]:
    """The active user a command acts as (``--as``), and that user as the
    audit trail names them on the CLI channel. A deactivated user acts no
    more here than through the API."""
    user = users.get_by_username(session, username)
    if not user.is_active:
        raise InvalidState(f"{username!r} is deactivated")
    return user, access.actor_for(user, Channel.CLI)


def date_option(text: str | None, name: str) -> date | None:
    """An ISO date given on the command line as ``name``; None when empty."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            "not a date such as 2026-01-31", param_hint=name
        ) from None


def fail(message: str, code: int = EXIT_DOMAIN_ERROR) -> typer.Exit:
    """Print ``message`` on stderr; raise the returned Exit to stop."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def database(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """A session factory on the configured database, disposed afterwards."""
    engine = create_engine(settings.effective_database_url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


@contextmanager
def cli_errors(settings: Settings) -> Iterator[None]:
    """Turn expected failures into a message on stderr and an exit status."""
    try:
        yield
    except DomainError as exc:
        raise fail(_describe(exc)) from None
    except sa.exc.DBAPIError as exc:
        if _missing_schema(exc):
            raise fail(_NO_SCHEMA, EXIT_SETUP_ERROR) from None
        if isinstance(exc, sa.exc.OperationalError):
            raise fail(
                f"cannot use the database at {masked_url(settings)}: "
                f"{str(exc.orig).strip().splitlines()[0]}",
                EXIT_SETUP_ERROR,
            ) from None
        raise


@contextmanager
def unit_of_work(settings: Settings | None = None) -> Iterator[Session]:
    """One committed transaction for a command, with CLI error handling."""
    settings = settings or get_settings()
    with (
        cli_errors(settings),
        database(settings) as factory,
        transaction(factory) as session,
    ):
        yield session


def require_current_schema(settings: Settings) -> None:
    """Stop with a hint unless the database is at this code's latest migration.

    Long-running commands check first, rather than failing on every request
    or poll with "no such table".
    """
    url = settings.effective_database_url
    scripts = ScriptDirectory.from_config(migrations.alembic_config(url))
    engine = create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with cli_errors(settings), engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()

    head = scripts.get_current_head()
    if current == head:
        return
    if current is None:
        raise fail(_NO_SCHEMA, EXIT_SETUP_ERROR)
    try:
        known = scripts.get_revision(current) is not None
    except CommandError:
        known = False
    if not known:
        raise fail(
            f"the database schema ({current}) is newer than this creditdesk",
            EXIT_SETUP_ERROR,
        )
    raise fail(
        f"the database schema is at {current}, this creditdesk needs {head}: "
        "run `creditdesk db upgrade`",
        EXIT_SETUP_ERROR,
    )


def masked_url(settings: Settings) -> str:
    """The database URL with any password hidden, fit for printing."""
    url = sa.engine.make_url(settings.effective_database_url)
    return url.render_as_string(hide_password=True)


def _missing_schema(exc: sa.exc.DBAPIError) -> bool:
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == _UNDEFINED_TABLE:
        return True
    return "no such table" in str(orig)


def _describe(exc: DomainError) -> str:
    if not exc.issues:
        return exc.detail
    return "; ".join(f"{issue.field}: {issue.message}" for issue in exc.issues)
