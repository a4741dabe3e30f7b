"""A contact centre's credit history, written straight into the tables.

Raising 100,000 credits through the service would take far longer than the
list it is meant to measure, so the rows (``bench.list_rows``) are inserted in
bulk: executemany on SQLite, COPY on PostgreSQL. Seeded rows get no audit
entries; only the API tokens are issued (and audited) through the service, so
the audit chain stays whole.
"""

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from rich.progress import Progress
from sqlalchemy.orm import Session, sessionmaker

from bench.list_rows import Shape, customers, history, people
from creditdesk.access.service import issue_token
from creditdesk.accounts.models import Account, Contract
from creditdesk.actors import Actor, Channel
from creditdesk.cases.models import Case
from creditdesk.credits.models import BillingCredit
from creditdesk.db import transaction
from creditdesk.policy import service as policy
from creditdesk.users.models import Team, User

SEED = 20_261_203
CHUNK = 5_000
TOKEN_TTL = timedelta(days=1)
BENCH_ACTOR = Actor.system(Channel.CLI, name="bench")


@dataclass(frozen=True)
class SeededOrg:
    """Who the benchmark calls as, and what they should see."""

    credits: int
    agent_id: int
    agent_credits: int
    finance_id: int
    tokens: dict[str, str]


def seed(factory: sessionmaker[Session], shape: Shape, console: Console) -> SeededOrg:
    """Fill an empty, migrated database; ids are assigned here from 1."""
    rng = random.Random(SEED)
    now = datetime.now(UTC)
    with transaction(factory) as session:
        # The default policy is version 1, which every seeded decision names.
        policy.active_policy(session)

    org = people(shape, now)
    accounts, contracts = customers(shape, rng, now)
    cases, credits = history(shape, org, [a["currency"] for a in accounts], rng, now)
    tables = (
        (Team, org.teams),
        (User, org.users),
        (Account, accounts),
        (Contract, contracts),
        (Case, cases),
        (BillingCredit, credits),
    )
    with factory() as session, session.begin():
        connection = session.connection()
        with Progress(console=console, transient=True) as progress:
            for model, rows in tables:
                insert_rows(connection, model.__table__, rows, progress)
        after_bulk_load(connection, [model.__table__ for model, _ in tables])

    agent_id, finance_id = org.agent_ids[0], org.finance_id
    return SeededOrg(
        credits=len(credits),
        agent_id=agent_id,
        agent_credits=sum(1 for c in credits if c["requested_by_id"] == agent_id),
        finance_id=finance_id,
        tokens=_tokens(factory, {"agent": agent_id, "finance": finance_id}, now),
    )


def insert_rows(
    connection: sa.Connection,
    table: sa.Table,
    rows: list[dict[str, Any]],
    progress: Progress,
) -> None:
    task = progress.add_task(f"seeding {table.name}", total=len(rows))
    for chunk in _chunks(rows):
        write_rows(connection, table, chunk)
        progress.advance(task, len(chunk))


def write_rows(
    connection: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]
) -> None:
    """Insert ``rows`` (all with the same keys): COPY on PostgreSQL,
    executemany elsewhere."""
    if connection.dialect.name == "postgresql":
        _copy(connection, table, rows)
    else:
        connection.execute(table.insert(), rows)


def _copy(
    connection: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]
) -> None:
    # COPY bypasses SQLAlchemy's type processing: JSON goes in as text.
    columns = list(rows[0])
    raw = connection.connection.driver_connection
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        for row in rows:
            copy.write_row([_copy_value(row[c]) for c in columns])


def _copy_value(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, dict | list) else value


def after_bulk_load(connection: sa.Connection, tables: list[sa.Table]) -> None:
    if connection.dialect.name != "postgresql":
        # The application never runs ANALYZE on SQLite, so neither does this.
        return
    for table in tables:
        # Explicit ids leave the sequences behind; the server inserts later.
        connection.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
            f"(SELECT max(id) FROM {table.name}))"
        )
        # Autovacuum would analyse a table this fresh within a minute.
        connection.exec_driver_sql(f"ANALYZE {table.name}")


def _tokens(
    factory: sessionmaker[Session], users: dict[str, int], now: datetime
) -> dict[str, str]:
    with transaction(factory) as session:
        return {
            who: issue_token(
                session,
                user=session.get_one(User, user_id),
                actor=BENCH_ACTOR,
                now=now,
                ttl=TOKEN_TTL,
                name="bench",
                scopes=("read",),
            )
            for who, user_id in users.items()
        }


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]
