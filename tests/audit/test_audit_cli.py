"""``creditdesk audit verify`` exits 0 on an intact trail and 1 on a broken one."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from creditdesk.audit.cli import app
from creditdesk.config import get_settings
from tests.audit.support import behind_the_triggers

runner = CliRunner()


@pytest.fixture
def on_chain(chain: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """Point the CLI's settings at the ``chain`` database."""
    url = chain.url.render_as_string(hide_password=False)
    monkeypatch.setenv("CREDITDESK_DATABASE_URL", url)
    get_settings.cache_clear()
    yield chain
    get_settings.cache_clear()


def test_an_intact_trail_exits_zero(on_chain: Engine) -> None:
    result = runner.invoke(app, ["verify"])

    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == "audit trail intact: 12 entries"


def test_a_broken_trail_exits_one_naming_the_entry(on_chain: Engine) -> None:
    with behind_the_triggers(on_chain) as connection:
        connection.exec_driver_sql("DELETE FROM audit_entries WHERE seq = 4")

    result = runner.invoke(app, ["verify", "--workers", "2"])

    assert result.exit_code == 1
    assert "audit trail broken at seq 4: entry 4 is missing" in result.stderr


def test_a_terminal_gets_a_progress_bar(
    on_chain: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCE_TERMINAL", "1")

    result = runner.invoke(app, ["verify", "--workers", "2"])

    assert result.exit_code == 0, result.output
    assert "audit trail intact: 12 entries" in result.stdout


def test_a_database_without_the_schema_gets_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDITDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["verify"])
    finally:
        get_settings.cache_clear()

    assert result.exit_code == 1
    assert "no creditdesk schema" in result.stderr
