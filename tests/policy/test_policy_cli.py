"""``creditdesk policy show`` and ``apply``, on a database of their own.

The commands commit, so they get a fresh database rather than putting new
policy versions in force under every other test of the run.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from creditdesk.audit.models import AuditEntry
from creditdesk.config import get_settings
from creditdesk.db import create_engine
from creditdesk.policy.cli import app
from creditdesk.policy.schemas import default_policy_text


@pytest.fixture
def cli(fresh_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("CREDITDESK_DATABASE_URL", fresh_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def _policy_entries(url: str) -> list[tuple[str, str, str]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.select(
                    AuditEntry.entity_id, AuditEntry.action, AuditEntry.actor_name
                )
                .where(AuditEntry.entity_type == "policy")
                .order_by(AuditEntry.seq)
            )
            return [tuple(row) for row in rows]
    finally:
        engine.dispose()


def _shown_version(cli: CliRunner) -> str:
    output = cli.invoke(app, ["show"]).stdout
    return next(line for line in output.splitlines() if line.startswith("# policy"))


def test_show_apply_show(cli: CliRunner, fresh_url: str, tmp_path: Path) -> None:
    first = cli.invoke(app, ["show"])

    assert first.exit_code == 0, first.output
    # Unconfigured structlog may print to stdout too, so look for our lines.
    assert "# policy version 1, applied by system\n" in first.stdout
    assert first.stdout.endswith(default_policy_text())

    changed = default_policy_text().replace('GBP: "20.00", EUR', 'GBP: "15.00", EUR')
    path = tmp_path / "policy.yaml"
    path.write_text(changed)
    applied = cli.invoke(app, ["apply", str(path), "--comment", "lower GBP limit"])

    assert applied.exit_code == 0, applied.output
    # Whether a log line comes first depends on which test configured
    # structlog before this one, so only the last line is ours to check.
    assert applied.stdout.splitlines()[-1] == "policy version 2 is now in force"

    second = cli.invoke(app, ["show"])
    assert "# policy version 2, applied by cli:" in second.stdout
    assert 'GBP: "15.00"' in second.stdout

    entries = _policy_entries(fresh_url)
    assert [(entity, action) for entity, action, _ in entries] == [
        ("1", "policy.applied"),
        ("2", "policy.applied"),
    ]
    assert entries[1][2].startswith("cli:")


def test_apply_of_a_bad_file_prints_the_path_and_exits_2(
    cli: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(default_policy_text() + "surprise: 1\n")
    before = _shown_version(cli)

    result = cli.invoke(app, ["apply", str(path)])

    assert result.exit_code == 2
    assert result.stderr == "error: surprise: unknown key\n"
    assert _shown_version(cli) == before


def test_apply_of_a_missing_file_is_a_usage_error(cli: CliRunner) -> None:
    result = cli.invoke(app, ["apply", "/nonexistent/policy.yaml"])

    assert result.exit_code == 2
    assert "does not exist" in result.stderr
