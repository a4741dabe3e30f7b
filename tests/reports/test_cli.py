"""``creditdesk reports``: a report to a file as a named user, and rates."""

import csv
import io
import json
from collections.abc import Iterator

import openpyxl
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from creditdesk.audit.models import AuditEntry
from creditdesk.cli import app
from creditdesk.config import get_settings
from creditdesk.users.models import Role
from tests.factories import make_user
from tests.reports.test_issued import write_january

runner = CliRunner()


@pytest.fixture(autouse=True)
def cli_database(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[None]:
    monkeypatch.setenv("CREDITDESK_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_report_as_csv_json_and_xlsx(history, tmp_path):
    write_january(history)
    args = [
        "reports",
        "run",
        "credits-issued",
        "--as",
        history.org.lead.username,
        "--from",
        "2015-01-01",
        "--to",
        "2015-01-31",
    ]

    as_csv = runner.invoke(app, args)
    as_json = runner.invoke(app, [*args, "--format", "json"])
    as_xlsx = runner.invoke(
        app, [*args, "--format", "xlsx", "--output", str(tmp_path / "r.xlsx")]
    )

    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    overall = [(r["currency"], r["count"]) for r in rows if r["table"] == "overall"]
    assert overall == [("EUR", "1"), ("GBP", "3")]
    assert json.loads(as_json.stdout)["tables"]["overall"][1]["total"] == "35.01"
    assert as_xlsx.exit_code == 0, as_xlsx.output
    book = openpyxl.load_workbook(tmp_path / "r.xlsx")
    assert book.sheetnames[0] == "overall"


def test_a_bad_filter_or_user_exits_with_a_message(history):
    base = ["reports", "run", "leakage", "--as", history.org.finance.username]
    bad_date = runner.invoke(app, [*base, "--from", "soon"])
    assert bad_date.exit_code == 2
    bad_currency = runner.invoke(app, [*base, "--currency", "XXX"])
    assert bad_currency.exit_code != 0
    assert "currency" in bad_currency.stderr
    nobody = runner.invoke(app, ["reports", "run", "roi", "--as", "no.such.user"])
    assert "no user called" in nobody.stderr


def test_an_administrator_adds_a_rate(history):
    args = ["reports", "add-rate", "DKK", "GBP", "2012-01-02", "0.11"]
    added = runner.invoke(app, [*args, "--as", history.org.admin.username])
    assert added.exit_code == 0, added.output
    assert "DKK/GBP from 2012-01-02: 0.11" in added.stdout
    refused = runner.invoke(app, [*args, "--as", history.org.finance.username])
    assert refused.exit_code != 0


def test_the_rate_is_audited_as_the_administrator_named(history, session_factory):
    # Rates are shared by the whole run: a pair no other test converts.
    args = ["reports", "add-rate", "ISK", "GBP", "2012-01-03", "0.0057"]
    added = runner.invoke(app, [*args, "--as", history.org.admin.username])

    assert added.exit_code == 0, added.output
    with session_factory() as session:
        entry = session.scalars(
            sa.select(AuditEntry)
            .where(AuditEntry.entity_type == "exchange_rate")
            .order_by(AuditEntry.seq.desc())
            .limit(1)
        ).one()
    assert entry.actor_id == history.org.admin.id
    assert entry.channel == "cli"


def test_a_deactivated_user_runs_no_report_and_adds_no_rate(history, session_factory):
    with session_factory.begin() as session:
        gone = make_user(session, role=Role.ADMIN)
        gone.is_active = False
        name = gone.username

    report = runner.invoke(app, ["reports", "run", "leakage", "--as", name])
    rate = runner.invoke(
        app, ["reports", "add-rate", "SEK", "GBP", "2012-01-04", "0.08", "--as", name]
    )

    assert report.exit_code == 2
    assert "deactivated" in report.stderr
    assert rate.exit_code == 2
    assert "deactivated" in rate.stderr
