"""The bulk load behind a generated history sets indexes and foreign keys
aside while it runs: they must be back as the models name them afterwards,
whether the load finished or stopped halfway, and still checked."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from creditdesk import models
from creditdesk.credits.models import BillingCredit
from creditdesk.db import create_engine
from creditdesk.demo.history import write_history
from creditdesk.demo.history_indexes import (
    SQLITE_KEPT_LIVE,
    Board,
    BrokenCheck,
    BrokenForeignKey,
    Job,
    put_back_checked,
    set_aside,
)
from creditdesk.demo.history_write import ORDER, flatten, loading, write
from tests.databases import scratch_database, server_url

NOW = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)


@pytest.fixture
def url(tmp_path) -> Iterator[str]:
    with scratch_database(
        server_url(), prefix="creditdesk_load", directory=tmp_path
    ) as url:
        yield url


def _schema(url: str) -> dict[str, tuple[set, set]]:
    """Per table: the names of its indexes and of its foreign keys."""
    engine = create_engine(url)
    try:
        inspector = sa.inspect(engine)
        return {
            table: (
                {
                    index["name"]
                    for index in inspector.get_indexes(table)
                    if not index.get("duplicates_constraint")
                },
                {key["name"] for key in inspector.get_foreign_keys(table)},
            )
            for table in ORDER
        }
    finally:
        engine.dispose()


def _models() -> dict[str, tuple[set, set]]:
    tables = models.Base.metadata.tables
    return {
        name: (
            {index.name for index in tables[name].indexes},
            {key.name for key in tables[name].foreign_key_constraints},
        )
        for name in ORDER
    }


def test_a_written_history_has_every_index_and_key_back(url: str) -> None:
    write_history(url, scale=300, seed=1, now=NOW)

    assert _schema(url) == _models()


@pytest.mark.postgres
def test_a_written_history_leaves_postgresql_statistics_and_sequences(
    url: str,
) -> None:
    write_history(url, scale=300, seed=1, now=NOW)

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            analyzed = set(
                connection.exec_driver_sql(
                    "SELECT relname FROM pg_stat_user_tables "
                    "WHERE last_analyze IS NOT NULL"
                ).scalars()
            )
            credit = connection.exec_driver_sql(
                "SELECT nextval(pg_get_serial_sequence('billing_credits', 'id')) "
                "- (SELECT max(id) FROM billing_credits)"
            ).scalar_one()
    finally:
        engine.dispose()

    assert analyzed >= set(ORDER)
    assert credit == 1


def test_a_load_stopped_halfway_puts_them_back(url: str) -> None:
    def stop(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_history(url, scale=300, seed=1, progress=stop, now=NOW)

    assert _schema(url) == _models()


def test_a_row_without_its_parent_is_found(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            aside = set_aside(connection, ORDER)
            if connection.dialect.name == "sqlite":
                connection.connection.driver_connection.execute(
                    "PRAGMA foreign_keys = OFF"
                )
            with connection.begin():
                connection.execute(
                    sa.insert(BillingCredit.__table__).values(
                        id=1,
                        case_id=999_999,
                        account_id=999_999,
                        requested_by_id=999_999,
                        amount_minor=100,
                        currency="GBP",
                        type="goodwill",
                        reason="goodwill",
                        justification="no case, no account, no requester",
                        status="submitted",
                        policy_version=1,
                        decision={},
                        near_duplicate=False,
                        over_cap=False,
                        created_at=NOW,
                        updated_at=NOW,
                        version=1,
                    )
                )
            with pytest.raises((BrokenForeignKey, sa.exc.IntegrityError)):
                put_back_checked(connection, aside, ORDER)
    finally:
        engine.dispose()


def test_a_row_that_breaks_a_check_constraint_is_found(url: str) -> None:
    pirate = (1, "pirate", "A Pirate", "pirate@example.com", "pirate")
    pirate += (None, None, None, None, 0, None, True, "2026-11-30 15:30:00", None)
    engine = create_engine(url)
    # PostgreSQL refuses the row as the driver copies it in.
    refused = (BrokenCheck, engine.dialect.loaded_dbapi.IntegrityError)
    try:
        with (
            engine.connect() as connection,
            pytest.raises(refused),
            loading(connection),
            connection.begin(),
        ):
            write(connection, flatten({"users": [pirate]}))
    finally:
        engine.dispose()


def test_sqlite_keeps_its_ascending_indexes_through_the_load(url: str) -> None:
    every = set().union(*(indexes for indexes, _ in _models().values()))
    # A renamed index would quietly be built afterwards again: keep in step.
    assert every >= SQLITE_KEPT_LIVE

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            aside = set_aside(connection, ORDER)
            left = set().union(*(indexes for indexes, _ in _schema(url).values()))
            put_back_checked(connection, aside, ORDER)
    finally:
        engine.dispose()

    if engine.dialect.name == "sqlite":
        assert left == set(SQLITE_KEPT_LIVE)
    else:
        assert left == set()
    assert _schema(url) == _models()


def test_the_rebuild_runs_a_table_s_checks_alone_and_other_work_beside_them():
    builds = [Job("credits", (f"build {n}",), alone=False) for n in (1, 2)]
    checks = Job("credits", ("check",), alone=True)
    other = Job("cases", ("build",), alone=False)
    board = Board([*builds, checks, other])

    first, second = board.take(), board.take()
    # The credits' check would wait for their builds: the cases' build goes.
    third = board.take()
    board.done(first)
    board.done(second)
    fourth = board.take()

    assert (first, second, third, fourth) == (*builds, other, checks)
    board.done(third)
    board.done(fourth)
    assert board.take() is None


def test_the_rebuild_hands_out_nothing_more_once_a_job_failed():
    board = Board([Job(table, ("build",), alone=False) for table in ("a", "b")])

    taken = board.take()
    board.stop()
    board.done(taken)

    assert board.take() is None
