"""Throw-away databases: a SQLite file in a temp dir, a fresh PostgreSQL db."""

import os
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker
from tests.databases import scratch_database

from creditdesk.db import create_engine, make_session_factory

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def pg_server_url() -> str:
    return os.environ.get("CREDITDESK_BENCH_PG_URL", DEFAULT_PG_URL)


def pg_unreachable_reason() -> str | None:
    """Why PostgreSQL cannot be used, or None when it answers."""
    engine = sa.create_engine(pg_server_url(), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except sa.exc.SQLAlchemyError as error:
        return str(error.orig or error).splitlines()[0]
    finally:
        engine.dispose()
    return None


@contextmanager
def fresh_database(backend: str, *, migrate: bool = True) -> Iterator[str]:
    """Yield the URL of a new, migrated database that is removed afterwards."""
    server = pg_server_url() if backend == "postgresql" else None
    with scratch_database(server, prefix="creditdesk_bench", migrate=migrate) as url:
        yield url


@contextmanager
def sessions(url: str) -> Iterator[sessionmaker[Session]]:
    """A small session factory on ``url`` for seeding, disposed afterwards."""
    engine = create_engine(url, pool_size=2)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()
