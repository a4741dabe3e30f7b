"""``creditdesk demo --scale N`` against a database of its own."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from creditdesk.cli import app
from creditdesk.config import get_settings
from creditdesk.credits.models import BillingCredit
from creditdesk.db import create_engine
from creditdesk.users.models import User
from tests.databases import scratch_database, server_url

runner = CliRunner()


@pytest.fixture
def fresh_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    with scratch_database(
        server_url(), prefix="creditdesk_hcli", directory=tmp_path
    ) as url:
        monkeypatch.setenv("CREDITDESK_DATABASE_URL", url)
        get_settings.cache_clear()
        yield url
        get_settings.cache_clear()


def _count(url: str, model: type) -> int:
    engine = create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            query = sa.select(sa.func.count()).select_from(model)
            return connection.execute(query).scalar_one()
    finally:
        engine.dispose()


def test_demo_scale_builds_the_demo_and_writes_the_history(fresh_database: str) -> None:
    result = runner.invoke(app, ["demo", "--scale", "120", "--seed", "3"])

    assert result.exit_code == 0, result.output
    assert "maya.manager" in result.stdout
    assert "120 credits" in result.stdout
    assert "credits/s" in result.stdout
    assert "no audit entries of their own" in result.stdout
    assert _count(fresh_database, BillingCredit) == 120


def test_demo_scale_twice_keeps_the_first_history(fresh_database: str) -> None:
    runner.invoke(app, ["demo", "--scale", "50"])

    again = runner.invoke(app, ["demo", "--scale", "50"])

    assert again.exit_code == 2
    assert "already has a generated history" in again.stderr
    assert _count(fresh_database, BillingCredit) == 50


def test_demo_scale_if_empty_skips_a_database_with_users(fresh_database: str) -> None:
    runner.invoke(app, ["demo"])
    users = _count(fresh_database, User)

    result = runner.invoke(app, ["demo", "--if-empty", "--scale", "50"])

    assert result.exit_code == 0
    assert "skipped" in result.stderr
    assert _count(fresh_database, BillingCredit) == 0
    assert _count(fresh_database, User) == users
