"""Fixtures for audit tests that need a chain of their own.

Tampering breaks a chain for good, so those tests get a freshly migrated
database each (made the way tests/conftest.py makes the run's database) and
the shared one stays intact for every other test that verifies it.
"""

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from creditdesk.db import make_session_factory
from tests.audit.support import build_chain, database_template, fresh_database

FreshDatabase = Callable[..., AbstractContextManager[Engine]]


@pytest.fixture(scope="session")
def audit_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with database_template(tmp_path_factory.mktemp("audit")) as url:
        yield url


@pytest.fixture
def new_database(tmp_path: Path) -> FreshDatabase:
    """Make a new database migrated only up to ``revision``."""

    def make(revision: str) -> AbstractContextManager[Engine]:
        return fresh_database(tmp_path, revision=revision)

    return make


@pytest.fixture
def fresh_engine(tmp_path: Path, audit_template: str) -> Iterator[Engine]:
    """An engine on a database of its own, migrated to head."""
    with fresh_database(tmp_path, template=audit_template) as engine:
        yield engine


@pytest.fixture
def chain(fresh_engine: Engine) -> Engine:
    """A fresh database holding a valid chain of 12 entries."""
    build_chain(make_session_factory(fresh_engine))
    return fresh_engine
