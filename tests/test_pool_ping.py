"""Pooled PostgreSQL connections are tested before use only after sitting idle."""

import time
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from creditdesk.db import ping_after_idle

pytestmark = pytest.mark.postgres


@pytest.fixture
def pool(database_url: str) -> Iterator[Callable[[float], Engine]]:
    """Engines of one pooled connection, pinged after the idle time given."""
    engines: list[Engine] = []

    def make(idle_seconds: float) -> Engine:
        engine = sa.create_engine(database_url, pool_size=1, max_overflow=0)
        ping_after_idle(engine, idle_seconds)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()


def _terminate(database_url: str, pid: int) -> None:
    admin = sa.create_engine(database_url)
    with admin.connect() as connection:
        connection.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
    admin.dispose()


def test_an_idle_connection_killed_by_the_server_is_replaced(
    pool: Callable[[float], Engine], database_url: str
) -> None:
    engine = pool(0.05)
    victim = _backend_pid(engine)
    _terminate(database_url, victim)
    time.sleep(0.2)

    assert _backend_pid(engine) != victim


def test_a_connection_back_a_moment_ago_is_used_unpinged(
    pool: Callable[[float], Engine], database_url: str
) -> None:
    # The price of skipping the round trip: a connection that died within
    # the idle time fails its first statement, and the pool then drops it.
    engine = pool(60)
    victim = _backend_pid(engine)
    _terminate(database_url, victim)

    with pytest.raises(sa.exc.OperationalError):
        _backend_pid(engine)
    assert _backend_pid(engine) != victim
