"""Accounts, contracts and cases over the API."""

import uuid

from fastapi.testclient import TestClient

from tests.factories import Org


def _account(client: TestClient, org: Org, **body: object) -> dict:
    payload = {"name": "Acme Ltd", "currency": "GBP", **body}
    response = client.post(
        "/api/v1/accounts", json=payload, headers=org.auth("finance")
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_finance_registers_an_account_and_agents_may_read_it(
    client: TestClient, org: Org
) -> None:
    number = f"ACC-{uuid.uuid4().hex[:8]}"
    account = _account(client, org, number=number, currency="EUR")

    assert account["number"] == number
    assert account["billing_system"] == "ledger"
    read = client.get(f"/api/v1/accounts/{account['id']}", headers=org.auth("agent"))
    assert read.json()["currency"] == "EUR"


def test_agents_cannot_register_accounts(client: TestClient, org: Org) -> None:
    response = client.post(
        "/api/v1/accounts",
        json={"name": "Acme", "currency": "GBP"},
        headers=org.auth("agent"),
    )
    assert response.status_code == 403


def test_account_numbers_are_unique(client: TestClient, org: Org) -> None:
    number = f"ACC-{uuid.uuid4().hex[:8]}"
    _account(client, org, number=number)
    again = client.post(
        "/api/v1/accounts",
        json={"name": "Other", "currency": "GBP", "number": number},
        headers=org.auth("finance"),
    )
    assert again.status_code == 409


def test_an_unknown_account_is_404(client: TestClient, org: Org) -> None:
    response = client.get("/api/v1/accounts/999999999", headers=org.auth("agent"))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_a_contract_cap_is_parsed_in_the_account_currency(
    client: TestClient, org: Org
) -> None:
    account = _account(client, org, currency="JPY")
    body = {
        "account_id": account["id"],
        "product": "broadband",
        "starts_on": "2026-01-01",
        "credit_cap": "5000",
        "credit_types": ["goodwill", "dispute"],
    }
    created = client.post("/api/v1/contracts", json=body, headers=org.auth("finance"))
    assert created.status_code == 201, created.text
    assert created.json()["credit_cap"] == "5000"

    too_fine = client.post(
        "/api/v1/contracts",
        json={**body, "credit_cap": "5000.50"},
        headers=org.auth("finance"),
    )
    assert too_fine.status_code == 422
    assert too_fine.json()["field"] == "credit_cap"


def test_a_contract_names_only_credit_types_the_policy_knows(
    client: TestClient, org: Org
) -> None:
    account = _account(client, org)
    response = client.post(
        "/api/v1/contracts",
        json={
            "account_id": account["id"],
            "product": "tv",
            "starts_on": "2026-01-01",
            "credit_cap": "100.00",
            "credit_types": ["voucher"],
        },
        headers=org.auth("finance"),
    )
    assert response.status_code == 422
    assert response.json()["field"] == "credit_types"


def test_a_contract_cannot_end_before_it_starts(client: TestClient, org: Org) -> None:
    account = _account(client, org)
    response = client.post(
        "/api/v1/contracts",
        json={
            "account_id": account["id"],
            "product": "tv",
            "starts_on": "2026-05-01",
            "ends_on": "2026-04-01",
            "credit_cap": "100.00",
        },
        headers=org.auth("finance"),
    )
    assert response.status_code == 422
    assert response.json()["field"] == "ends_on"


def test_an_agent_opens_a_case_and_finds_it_by_status(
    client: TestClient, org: Org
) -> None:
    account = _account(client, org)
    opened = client.post(
        "/api/v1/cases",
        json={
            "account_id": account["id"],
            "subject": "Overcharged by £10",
            "type": "billing_dispute",
            "product": "broadband",
            "disputed_amount": "10.00",
        },
        headers=org.auth("agent"),
    )
    assert opened.status_code == 201, opened.text
    case = opened.json()
    assert case["number"] == f"CS-{case['id']:06d}"
    assert case["disputed_amount"] == "10.00"
    assert case["owner_id"] == org.agent.id
    assert case["team_id"] == org.team.id

    listed = client.get(
        "/api/v1/cases",
        params={"status": "open", "account_id": account["id"]},
        headers=org.auth("agent"),
    ).json()["items"]
    assert [c["id"] for c in listed] == [case["id"]]


def test_case_input_is_checked(client: TestClient, org: Org) -> None:
    account = _account(client, org)
    base = {"account_id": account["id"], "subject": "Late bill", "type": "other"}
    cases = [
        ({"disputed_amount": "10.001"}, "disputed_amount"),
        ({"disputed_amount": "0"}, "disputed_amount"),
        ({"type": "complaint"}, "type"),
        ({"account_id": 999999999}, "account_id"),
        ({"subject": ""}, "subject"),
    ]
    for change, field in cases:
        response = client.post(
            "/api/v1/cases", json={**base, **change}, headers=org.auth("agent")
        )
        assert response.status_code == 422, (change, response.text)
        assert response.json()["field"] == field
