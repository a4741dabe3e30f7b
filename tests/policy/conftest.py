"""A fresh database for tests whose work must be committed, so that new
policy versions never come into force under the rest of the run."""

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from creditdesk import migrations

BACKEND = os.environ.get("CREDITDESK_TEST_BACKEND", "sqlite")


@pytest.fixture(scope="module")
def fresh_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database on the run's backend, one per test module."""
    if BACKEND == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('policy') / 'fresh.db'}"
        migrations.upgrade(url)
        yield url
        return

    server_url = os.environ["CREDITDESK_TEST_DATABASE_URL"]
    name = f"creditdesk_policy_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        migrations.upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
