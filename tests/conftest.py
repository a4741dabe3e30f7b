"""Shared fixtures: one migrated database per test run, on SQLite or PostgreSQL.

``CREDITDESK_TEST_BACKEND=postgresql`` with ``CREDITDESK_TEST_DATABASE_URL``
pointing at a server runs the same suite on PostgreSQL: a fresh database is
created for the run and dropped after it. Tests do not clean up; they create
records with unique random values instead.
"""

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.app import create_app
from creditdesk.config import Settings
from creditdesk.db import create_engine, make_session_factory
from tests.databases import BACKEND, scratch_database, server_url
from tests.factories import Org, make_org
from tests.smtp_sink import Sink, SinkHandler, free_port


def pytest_report_header() -> str:
    return f"creditdesk database backend: {BACKEND}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests marked postgres exercise row locks and SKIP LOCKED; on SQLite they
    # are skipped, and CI runs the whole suite again on PostgreSQL.
    if BACKEND == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (runs in the PostgreSQL pass)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with scratch_database(server_url(), directory=tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work the test commits itself when it needs to."""
    with session_factory() as session:
        yield session
        session.rollback()


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, env="test", worker_poll_seconds=0.05)


@pytest.fixture(scope="session")
def app(settings: Settings, engine: Engine) -> FastAPI:
    return create_app(settings, engine=engine)


@pytest.fixture(scope="session")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="session")
def org(session_factory: sessionmaker[Session]) -> Org:
    """One organisation shared by the run's API tests (read-only use)."""
    return make_org(session_factory)


@pytest.fixture(scope="module")
def live_server(settings: Settings, engine: Engine) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port, with its worker.

    Module-scoped: its worker drains the shared outbox, so it must not outlive
    the tests that asked for it and race the others' explicit worker runs.
    """
    app = create_app(settings, engine=engine, start_worker=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            pytest.fail("the test server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def sink() -> Iterator[Sink]:
    """A real SMTP server on a free loopback port that keeps what it is sent."""
    handler = SinkHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield Sink(controller.port, handler)
    finally:
        controller.stop()
