"""Recording invoices over the API and the CLI: validation naming the field,
one invoice per (account, reference), and the audit entry."""

import json
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from creditdesk.audit.models import AuditEntry
from creditdesk.cli import app
from creditdesk.config import get_settings
from creditdesk.db import transaction
from creditdesk.invoices.models import Invoice
from tests.factories import make_account, make_team

runner = CliRunner()


@pytest.fixture
def account_id(session_factory) -> int:
    with transaction(session_factory) as session:
        return make_account(session, currency="GBP").id


def body(account_id: int, **changes: object) -> dict:
    return {
        "account_id": account_id,
        "reference": f"INV-{uuid.uuid4().hex[:8]}",
        "issued_on": "2026-03-01",
        "period_start": "2026-02-01",
        "period_end": "2026-02-28",
        "amount": "84.50",
        "currency": "GBP",
    } | changes


def post(client, org, payload: dict, who: str = "finance"):
    return client.post("/api/v1/invoices", json=payload, headers=org.auth(who))


def test_finance_records_an_invoice_and_reads_it_back(client, org, account_id):
    created = post(client, org, body(account_id))

    assert created.status_code == 201, created.text
    invoice = created.json()
    assert (invoice["amount"], invoice["currency"]) == ("84.50", "GBP")
    assert invoice["created_by_id"] == org.finance.id
    one = client.get(f"/api/v1/invoices/{invoice['id']}", headers=org.auth("admin"))
    assert one.json() == invoice
    listed = client.get(
        "/api/v1/invoices",
        params={"account_id": account_id, "issued_from": "2026-03-01"},
        headers=org.auth("finance"),
    )
    assert [i["id"] for i in listed.json()["items"]] == [invoice["id"]]


def test_the_invoice_is_audited_in_minor_units(client, org, account_id, session):
    invoice = post(client, org, body(account_id, amount="1200")).json()

    entry = session.scalars(
        sa.select(AuditEntry).where(
            AuditEntry.entity_type == "invoice",
            AuditEntry.entity_id == str(invoice["id"]),
        )
    ).one()
    assert entry.action == "invoice.recorded"
    assert entry.actor_id == org.finance.id
    changes = json.loads(entry.changes)
    assert changes["amount_minor"] == [None, 120_000]
    assert changes["reference"] == [None, invoice["reference"]]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": "84.505"}, "amount"),
        ({"amount": "-1.00"}, "amount"),
        ({"amount": "0.00"}, "amount"),
        ({"amount": "1e3"}, "amount"),
        ({"amount": 84.5}, "amount"),
        ({"currency": "EUR"}, "currency"),
        ({"currency": "gbp"}, "currency"),
        ({"account_id": 999_999_999}, "account_id"),
        ({"reference": "   "}, "reference"),
        ({"period_end": "2026-01-31"}, "period_end"),
        ({"issued_on": "March"}, "issued_on"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    client, org, account_id, session, changes, field
):
    payload = body(account_id) | changes

    response = post(client, org, payload)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == field
    stored = session.scalar(
        sa.select(sa.func.count()).where(Invoice.reference == payload["reference"])
    )
    assert stored == 0


def test_a_reference_is_recorded_once_per_account(
    client, org, account_id, session_factory
):
    first = body(account_id)
    assert post(client, org, first).status_code == 201

    again = post(client, org, first | {"amount": "1.00"})

    assert again.status_code == 409
    assert again.json()["field"] == "reference"
    with transaction(session_factory) as session:
        other_account = make_account(session).id
    elsewhere = post(client, org, first | {"account_id": other_account})
    assert elsewhere.status_code == 201


def test_agents_and_auditors_may_not_record_or_read_invoices(client, org, account_id):
    assert post(client, org, body(account_id), who="agent").status_code == 403
    listed = client.get("/api/v1/invoices", headers=org.auth("auditor"))
    assert listed.status_code == 403


def test_an_account_moves_to_a_team_and_the_move_is_audited(client, org, session):
    created = client.post(
        "/api/v1/accounts",
        json={"name": "Acme Ltd", "currency": "GBP", "team_id": org.team.id},
        headers=org.auth("finance"),
    ).json()
    assert created["team_id"] == org.team.id

    moved = client.patch(
        f"/api/v1/accounts/{created['id']}",
        json={"team_id": None},
        headers=org.auth("admin"),
    )
    unknown = client.patch(
        f"/api/v1/accounts/{created['id']}",
        json={"team_id": 999_999_999},
        headers=org.auth("admin"),
    )

    assert moved.status_code == 200
    assert moved.json()["team_id"] is None
    assert unknown.status_code == 422
    assert unknown.json()["field"] == "team_id"
    entry = session.scalars(
        sa.select(AuditEntry).where(
            AuditEntry.action == "account.moved",
            AuditEntry.entity_id == str(created["id"]),
        )
    ).one()
    assert json.loads(entry.changes) == {"team_id": [org.team.id, None]}


def test_moving_an_account_moves_its_invoices_revenue_to_the_new_team(
    client, org, session_factory
):
    with transaction(session_factory) as session:
        other = make_team(session)
    account = client.post(
        "/api/v1/accounts",
        json={"name": "Moving Ltd", "currency": "GBP", "team_id": org.team.id},
        headers=org.auth("finance"),
    ).json()
    payload = body(account["id"], issued_on="2014-02-01", amount="40.00")
    assert post(client, org, payload).status_code == 201

    def revenue(team_id: int) -> list[tuple]:
        response = client.get(
            "/api/v1/reports/leakage",
            params={"date_from": "2014-02-01", "date_to": "2014-02-28"},
            headers=org.auth("finance"),
        )
        rows = response.json()["tables"]["revenue_by_team_month"]
        return [(r["month"], r["billed"]) for r in rows if r["team_id"] == team_id]

    before = (revenue(org.team.id), revenue(other.id))
    moved = client.patch(
        f"/api/v1/accounts/{account['id']}",
        json={"team_id": other.id},
        headers=org.auth("admin"),
    )

    assert moved.status_code == 200
    assert before == ([("2014-02", "40.00")], [])
    assert (revenue(org.team.id), revenue(other.id)) == ([], [("2014-02", "40.00")])


@pytest.fixture
def cli_database(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[None]:
    monkeypatch.setenv("CREDITDESK_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_the_cli_records_an_invoice_as_the_user_named(cli_database, org, account_id):
    args = ["invoices", "add", str(account_id), "INV-CLI-1", "2026-03-01", "12.5"]

    added = runner.invoke(app, [*args, "GBP", "--as", org.finance.username])
    wrong = runner.invoke(app, [*args, "EUR", "--as", org.finance.username])

    assert added.exit_code == 0, added.output
    assert "INV-CLI-1" in added.stdout
    assert "12.50 GBP" in added.stdout
    assert wrong.exit_code != 0
    assert "billed in GBP" in wrong.stderr


def _revenue(client, org, team_id: int) -> list[tuple]:
    response = client.get(
        "/api/v1/reports/leakage",
        params={"date_from": "2013-05-01", "date_to": "2013-05-31"},
        headers=org.auth("finance"),
    )
    rows = response.json()["tables"]["revenue_by_team_month"]
    return [(r["invoices"], r["billed"]) for r in rows if r["team_id"] == team_id]


def _cancel(client, org, invoice_id: int, who: str = "finance", **body):
    return client.post(
        f"/api/v1/invoices/{invoice_id}/cancel",
        json=body or {"reason": "Cancelled in the billing system"},
        headers=org.auth(who),
    )


def test_a_cancelled_invoice_is_billed_revenue_no_more(client, org, session):
    account = client.post(
        "/api/v1/accounts",
        json={"name": "Cancels Ltd", "currency": "GBP", "team_id": org.team.id},
        headers=org.auth("finance"),
    ).json()
    kept = post(client, org, body(account["id"], issued_on="2013-05-01"))
    payload = body(account["id"], issued_on="2013-05-01", amount="60.00")
    gone = post(client, org, payload).json()
    before = _revenue(client, org, org.team.id)

    cancelled = _cancel(client, org, gone["id"])
    again = _cancel(client, org, gone["id"])

    assert kept.status_code == 201
    assert before == [(2, "144.50")]
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancelled_at"] is not None
    assert _revenue(client, org, org.team.id) == [(1, "84.50")]
    assert again.status_code == 409
    entry = session.scalars(
        sa.select(AuditEntry).where(
            AuditEntry.entity_type == "invoice",
            AuditEntry.entity_id == str(gone["id"]),
            AuditEntry.action == "invoice.cancelled",
        )
    ).one()
    assert entry.actor_id == org.finance.id
    assert entry.reason == "Cancelled in the billing system"
    assert json.loads(entry.changes)["status"] == ["issued", "cancelled"]


def test_cancelling_takes_finance_a_reason_and_a_known_invoice(
    client, org, account_id, session
):
    invoice = post(client, org, body(account_id)).json()

    by_agent = _cancel(client, org, invoice["id"], who="agent")
    blank = _cancel(client, org, invoice["id"], reason="  ")
    unknown = _cancel(client, org, 999_999_999)

    assert by_agent.status_code == 403
    assert blank.status_code == 422 and blank.json()["field"] == "reason"
    assert unknown.status_code == 404
    assert session.get(Invoice, invoice["id"]).status.value == "issued"


def test_the_cli_cancels_an_invoice_as_the_user_named(
    cli_database, client, org, account_id
):
    invoice = post(client, org, body(account_id)).json()
    args = ["invoices", "cancel", str(invoice["id"]), "--as", org.finance.username]

    blank = runner.invoke(app, [*args, "--reason", "  "])
    cancelled = runner.invoke(app, [*args, "--reason", "Credited in full"])
    again = runner.invoke(app, [*args, "--reason", "Credited in full"])

    assert blank.exit_code != 0 and "say why" in blank.stderr
    assert cancelled.exit_code == 0, cancelled.output
    assert f"{invoice['reference']} cancelled" in cancelled.stdout
    assert again.exit_code != 0
    assert "cancelled already" in again.stderr
