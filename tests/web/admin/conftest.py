"""Administration page tests run on a database of their own.

A policy version, a sharing rule between roles or a field level changes what
every later test on the same database sees, so this package overrides the
run's database fixtures with its own (package scope): ``client_for``,
``make_person(session_factory)`` and ``desk`` work unchanged on it.
"""

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.app import create_app
from creditdesk.config import Settings
from creditdesk.db import create_engine, make_session_factory
from creditdesk.users.models import Role
from tests.databases import scratch_database, server_url
from tests.web.support import Person, make_person


@pytest.fixture(scope="package")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with scratch_database(
        server_url(),
        prefix="creditdesk_admin",
        directory=tmp_path_factory.mktemp("admin"),
    ) as url:
        yield url


@pytest.fixture(scope="package")
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="package")
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture(scope="package")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, env="test")


@pytest.fixture(scope="package")
def app(settings: Settings, engine: Engine) -> FastAPI:
    return create_app(settings, engine=engine)


@pytest.fixture
def admin(session_factory: sessionmaker[Session]) -> Person:
    return make_person(session_factory, role=Role.ADMIN)
