"""Reconciliation against the built-in ledger, over seeded discrepancies of
every kind, on a database of its own (the run reads every credit of the
system)."""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from creditdesk.billing.models import LedgerMemo, MemoStatus
from creditdesk.cli import app as cli
from creditdesk.config import Settings, get_settings
from creditdesk.credits.models import BillingCredit
from creditdesk.db import transaction
from creditdesk.outbox.worker import Worker
from tests.approvals.desk import MONDAY, Desk, open_desk

PERIOD = {"system": "ledger", "from": "2023-01-01", "to": "2023-01-31"}


@dataclass
class Seeded:
    desk: Desk
    matched: list[int]
    mismatched: int
    missing: int
    untracked_ref: str


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    with open_desk(tmp_path_factory.mktemp("recon"), Settings(env="test")) as desk:
        posted = [desk.raise_credit(f"1{n}.00")["id"] for n in range(3)]
        Worker(desk.factory, clock=desk.clock, settings=desk.settings).run_once()
        # Approved after the worker ran: it never reaches the ledger.
        missing = desk.raise_credit("9.00")["id"]
        with transaction(desk.factory) as session:
            # Someone changed a memo at the billing system...
            session.execute(
                sa.update(LedgerMemo)
                .where(LedgerMemo.credit_id == posted[1])
                .values(amount_minor=LedgerMemo.amount_minor + 1)
            )
            # ...and raised one by hand that no credit stands behind.
            account_id = session.get_one(BillingCredit, posted[0]).account_id
            manual = LedgerMemo(
                idempotency_key="manual-adjustment-1",
                account_id=account_id,
                amount_minor=777,
                currency="GBP",
                status=MemoStatus.APPLIED,
                created_at=MONDAY,
            )
            session.add(manual)
            session.flush()
            untracked_ref = manual.reference
        yield Seeded(desk, [posted[0], posted[2]], posted[1], missing, untracked_ref)


def _start(seeded: Seeded, who: str = "finance", **body: Any) -> Any:
    return seeded.desk.client.post(
        "/api/v1/reconciliations",
        json={**PERIOD, **body},
        headers=seeded.desk.org.auth(who),
    )


def test_every_kind_of_discrepancy_is_found(seeded: Seeded) -> None:
    response = _start(seeded)

    assert response.status_code == 201, response.text
    run = response.json()
    assert run["status"] == "completed"
    assert {k: run[k] for k in ("vendor_memos", "matched", "untracked")} == {
        "vendor_memos": 4,
        "matched": 2,
        "untracked": 1,
    }
    assert (run["missing"], run["mismatched"]) == (1, 1)

    found = seeded.desk.client.get(
        f"/api/v1/reconciliations/{run['id']}/findings",
        headers=seeded.desk.org.auth("finance"),
    ).json()["items"]
    by_kind = {f["kind"]: f for f in found}
    assert by_kind["missing"]["credit_id"] == seeded.missing
    assert by_kind["mismatched"]["credit_id"] == seeded.mismatched
    assert (
        by_kind["mismatched"]["our_amount"],
        by_kind["mismatched"]["vendor_amount"],
    ) == (
        "11.00",
        "11.01",
    )
    assert by_kind["untracked"]["external_ref"] == seeded.untracked_ref
    assert by_kind["untracked"]["credit_id"] is None


def test_the_findings_export_as_csv(seeded: Seeded) -> None:
    run = _start(seeded).json()

    response = seeded.desk.client.get(
        f"/api/v1/reconciliations/{run['id']}/findings.csv",
        headers=seeded.desk.org.auth("auditor"),
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert sorted(r["kind"] for r in rows) == ["mismatched", "missing", "untracked"]
    untracked = next(r for r in rows if r["kind"] == "untracked")
    assert (untracked["vendor_amount"], untracked["our_amount"]) == ("7.77", "")


def test_a_reader_who_may_not_see_amounts_gets_findings_without_them(
    seeded: Seeded,
) -> None:
    run = _start(seeded).json()
    base = f"/api/v1/reconciliations/{run['id']}/findings"
    client, org = seeded.desk.client, seeded.desk.org
    level = "/api/v1/admin/field-permissions/auditor/credit/amount"
    hidden = client.put(level, json={"level": "hidden"}, headers=org.auth("admin"))
    assert hidden.status_code == 200, hidden.text
    try:
        listed = client.get(base, headers=org.auth("auditor")).json()
        exported = client.get(f"{base}.csv", headers=org.auth("auditor")).text
    finally:
        client.delete(level, headers=org.auth("admin"))
    shown = client.get(base, headers=org.auth("auditor")).json()

    assert (listed["amounts"], shown["amounts"]) == ("hidden", "shown")
    mismatched = next(f for f in listed["items"] if f["kind"] == "mismatched")
    assert (mismatched["our_amount"], mismatched["vendor_amount"]) == (None, None)
    assert mismatched["detail"] == "amount differs"
    assert mismatched["our_currency"] == "GBP"
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert sorted(r["kind"] for r in rows) == ["mismatched", "missing", "untracked"]
    assert "our_amount" not in rows[0] and "vendor_amount" not in rows[0]
    for figure in ("11.00", "11.01", "1100", "1101", "7.77"):
        assert figure not in exported
    full = next(f for f in shown["items"] if f["kind"] == "mismatched")
    assert full["detail"] == "amount 1101 there, 1100 here (minor units)"


def test_who_may_run_and_read(seeded: Seeded) -> None:
    run = _start(seeded, "admin").json()
    base = f"/api/v1/reconciliations/{run['id']}"

    for who in ("agent", "lead", "auditor"):
        assert _start(seeded, who).status_code == 403
    for who in ("agent", "lead"):
        assert (
            seeded.desk.client.get(base, headers=seeded.desk.org.auth(who)).status_code
            == 403
        )
    listed = seeded.desk.client.get(
        "/api/v1/reconciliations", headers=seeded.desk.org.auth("auditor")
    )
    assert run["id"] in [r["id"] for r in listed.json()["items"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"from": "2023-02-01", "to": "2023-01-01"}, "to"),
        ({"from": "2022-01-01", "to": "2023-06-01"}, "to"),
        ({"system": "abacus"}, "system"),
        ({"system": "zuora"}, "system"),
    ],
)
def test_bad_requests_name_their_field(
    seeded: Seeded, body: dict[str, str], field: str
) -> None:
    response = _start(seeded, **body)

    assert response.status_code == 422
    assert response.json()["field"] == field


def test_the_command_reports_and_writes_csv(
    seeded: Seeded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDITDESK_DATABASE_URL", seeded.desk.settings.database_url)
    get_settings.cache_clear()
    out = tmp_path / "findings.csv"
    try:
        result = CliRunner().invoke(
            cli,
            [
                "reconcile",
                "--system",
                "ledger",
                "--from",
                "2023-01-01",
                "--to",
                "2023-01-31",
                "--as",
                seeded.desk.org.finance.username,
                "--csv",
                str(out),
            ],
        )
        agent = seeded.desk.org.agent.username
        refused = CliRunner().invoke(
            cli,
            [
                *("reconcile", "--system", "ledger", "--from", "2023-01-01"),
                *("--to", "2023-01-31", "--as", agent),
            ],
        )
    finally:
        get_settings.cache_clear()

    assert result.exit_code == 0, result.output
    assert "completed" in result.output
    assert len(list(csv.DictReader(out.open()))) == 3
    assert refused.exit_code == 1


def test_the_command_leaves_amounts_out_for_a_user_who_may_not_see_them(
    seeded: Seeded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, org = seeded.desk.client, seeded.desk.org
    level = "/api/v1/admin/field-permissions/admin/credit/amount"
    monkeypatch.setenv("CREDITDESK_DATABASE_URL", seeded.desk.settings.database_url)
    get_settings.cache_clear()
    out = tmp_path / "findings.csv"
    hidden = client.put(level, json={"level": "hidden"}, headers=org.auth("admin"))
    assert hidden.status_code == 200, hidden.text
    try:
        result = CliRunner().invoke(
            cli,
            [
                *("reconcile", "--system", "ledger", "--from", "2023-01-01"),
                *("--to", "2023-01-31", "--as", org.admin.username),
                *("--csv", str(out)),
            ],
        )
    finally:
        client.delete(level, headers=org.auth("admin"))
        get_settings.cache_clear()

    assert result.exit_code == 0, result.output
    text = out.read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 3 and "our_amount" not in rows[0]
    for figure in ("11.00", "11.01", "1100", "1101", "7.77"):
        assert figure not in text
