"""Throw-away databases for tests and benchmarks, on either backend."""

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from creditdesk import migrations

# The backend of this test run: "sqlite" (default) or "postgresql", whose
# server CREDITDESK_TEST_DATABASE_URL names.
BACKEND = os.environ.get("CREDITDESK_TEST_BACKEND", "sqlite")


def server_url() -> str | None:
    """The PostgreSQL server of this run, or None on SQLite."""
    if BACKEND == "sqlite":
        return None
    url = os.environ.get("CREDITDESK_TEST_DATABASE_URL")
    if not url:
        raise RuntimeError("CREDITDESK_TEST_DATABASE_URL must be set for PostgreSQL")
    return url


@contextmanager
def scratch_database(
    server_url: str | None,
    *,
    prefix: str = "creditdesk_test",
    directory: Path | None = None,
    migrate: bool = True,
) -> Iterator[str]:
    """Yield the URL of a new database, removed afterwards.

    With ``server_url`` (a PostgreSQL server) a database is created there and
    dropped at the end; without it a SQLite file is made in ``directory`` (a
    temporary directory by default).
    """
    maker = _postgres(server_url, prefix) if server_url else _sqlite(directory)
    with maker as url:
        if migrate:
            migrations.upgrade(url)
        yield url


@contextmanager
def _sqlite(directory: Path | None) -> Iterator[str]:
    if directory is not None:
        yield f"sqlite:///{directory / f'{uuid.uuid4().hex[:8]}.db'}"
        return
    with tempfile.TemporaryDirectory(prefix="creditdesk-") as tmp:
        yield f"sqlite:///{Path(tmp) / 'creditdesk.db'}"


@contextmanager
def _postgres(server_url: str, prefix: str) -> Iterator[str]:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(server_url).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
