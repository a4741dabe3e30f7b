"""Helpers for audit tests: fresh databases, a sample chain, tampering."""

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from creditdesk import migrations
from creditdesk.actors import Actor, Channel
from creditdesk.audit import service as audit
from creditdesk.db import create_engine, transaction
from creditdesk.users.models import Role

BACKEND = os.environ.get("CREDITDESK_TEST_BACKEND", "sqlite")
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@contextmanager
def database_template(folder: Path) -> Iterator[str]:
    """A migrated database to copy fresh ones from; its URL, dropped after."""
    with _new_database(folder, "template") as url:
        migrations.upgrade(url)
        yield url


@contextmanager
def fresh_database(
    folder: Path, *, template: str | None = None, revision: str = "head"
) -> Iterator[Engine]:
    """A new database: a copy of ``template``, or migrated to ``revision``."""
    with _new_database(folder, "audit", template=template) as url:
        if template is None:
            migrations.upgrade(url, revision)
        engine = create_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


@contextmanager
def _new_database(
    folder: Path, prefix: str, *, template: str | None = None
) -> Iterator[str]:
    suffix = uuid.uuid4().hex[:12]
    if BACKEND == "sqlite":
        path = folder / f"{prefix}-{suffix}.db"
        if template is not None:
            shutil.copyfile(str(make_url(template).database), path)
        yield f"sqlite:///{path}"
        return

    # Copying a template is much quicker than running the migrations again.
    server_url = os.environ["CREDITDESK_TEST_DATABASE_URL"]
    name = f"creditdesk_{prefix}_{suffix}"
    copy = f' TEMPLATE "{make_url(template).database}"' if template else ""
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"{copy}')
    try:
        yield (
            make_url(server_url)
            .set(database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def agent(user_id: int = 7, name: str = "alice") -> Actor:
    return Actor(user_id=user_id, name=name, channel=Channel.API, role=Role.AGENT)


def build_chain(
    factory: sessionmaker[Session], *, transactions: int = 4, per_transaction: int = 3
) -> int:
    """Commit entries in several transactions; returns how many were sealed."""
    for batch in range(transactions):
        with transaction(factory) as session:
            for index in range(per_transaction):
                number = batch * per_transaction + index
                audit.record(
                    session,
                    actor=agent() if number % 2 else Actor.system(Channel.WORKER),
                    action="credit.approved",
                    entity_type="credit",
                    entity_id=number,
                    changes={"status": ("submitted", "approved"), "n": (None, number)},
                    reason=None if number % 3 else f"reason {number}\nsecond line",
                    now=START + timedelta(minutes=number),
                )
    return transactions * per_transaction


@contextmanager
def behind_the_triggers(engine: Engine) -> Iterator[Connection]:
    """A transaction in which the append-only triggers do not fire.

    This is how someone with direct database access would tamper: PostgreSQL
    skips ordinary triggers for a replication session (superuser only); on
    SQLite the triggers are dropped and put back before the commit.
    """
    with engine.begin() as connection:
        if BACKEND == "postgresql":
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
            yield connection
            return

        triggers = connection.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
        ).all()
        for name, _sql in triggers:
            connection.exec_driver_sql(f"DROP TRIGGER {name}")
        yield connection
        for _name, sql in triggers:
            connection.exec_driver_sql(sql)
