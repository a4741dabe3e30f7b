"""Concurrent writers share one chain: every seal waits its turn on the head."""

from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from creditdesk.audit import service as audit
from creditdesk.audit.models import AuditEntry
from creditdesk.db import make_session_factory, transaction
from tests.audit.support import agent

ENTRIES_PER_TRANSACTION = 2


def hammer(engine: Engine, *, threads: int, transactions: int) -> None:
    """``threads`` writers, each committing ``transactions`` times at once."""
    factory = make_session_factory(engine)

    def writer(number: int) -> None:
        for index in range(transactions):
            with transaction(factory) as session:
                for part in range(ENTRIES_PER_TRANSACTION):
                    audit.record(
                        session,
                        actor=agent(user_id=number),
                        action="credit.submitted",
                        entity_type="credit",
                        entity_id=f"{number}-{index}",
                        changes={"part": (None, part)},
                    )

    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(writer, n) for n in range(threads)]:
            future.result(timeout=90)


def assert_gapless(engine: Engine, expected: int) -> None:
    with engine.connect() as connection:
        count, low, high = connection.execute(
            sa.select(
                sa.func.count(),
                sa.func.min(AuditEntry.seq),
                sa.func.max(AuditEntry.seq),
            )
        ).one()

    assert (count, low, high) == (expected, 1, expected)
    assert audit.verify(engine) == audit.VerifyResult(True, expected, None, None)


@pytest.mark.postgres
def test_eight_writers_build_one_gapless_chain(fresh_engine: Engine) -> None:
    hammer(fresh_engine, threads=8, transactions=50)

    assert_gapless(fresh_engine, 8 * 50 * ENTRIES_PER_TRANSACTION)


def test_concurrent_writers_never_fork_the_chain(fresh_engine: Engine) -> None:
    # The same on every backend, smaller: SQLite serialises with BEGIN IMMEDIATE.
    hammer(fresh_engine, threads=4, transactions=10)

    assert_gapless(fresh_engine, 4 * 10 * ENTRIES_PER_TRANSACTION)
