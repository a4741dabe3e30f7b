"""Bad input gets a 422 problem naming the field and writes nothing at all."""

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.audit.models import AuditEntry
from creditdesk.credits.models import BillingCredit
from creditdesk.idempotency.models import IdempotencyRecord
from tests.api_helpers import JUSTIFICATION, count, credit_body
from tests.factories import Customer, Org, make_customer


@pytest.fixture(scope="module")
def customer(org: Org, session_factory: sessionmaker[Session]) -> Customer:
    return make_customer(session_factory, owner=org.agent)


def _table_counts(factory: sessionmaker[Session]) -> tuple[int, int, int]:
    with factory() as session:
        return (
            count(session, BillingCredit),
            count(session, AuditEntry),
            count(session, IdempotencyRecord),
        )


BAD_FIELDS: list[tuple[str, dict[str, Any], str]] = [
    ("zero", {"amount": "0.00"}, "amount"),
    ("negative", {"amount": "-5.00"}, "amount"),
    ("json number", {"amount": 10.0}, "amount"),
    ("json integer", {"amount": 10}, "amount"),
    ("exponent", {"amount": "1e3"}, "amount"),
    ("comma", {"amount": "10,00"}, "amount"),
    ("leading space", {"amount": " 10.00"}, "amount"),
    ("trailing space", {"amount": "10.00 "}, "amount"),
    ("nan", {"amount": "NaN"}, "amount"),
    ("infinity", {"amount": "Infinity"}, "amount"),
    ("plus sign", {"amount": "+10.00"}, "amount"),
    ("too precise", {"amount": "10.001"}, "amount"),
    ("thirteen digits", {"amount": "1234567890123.00"}, "amount"),
    ("empty amount", {"amount": ""}, "amount"),
    ("unknown currency", {"currency": "XYZ"}, "currency"),
    ("lower-case currency", {"currency": "gbp"}, "currency"),
    ("another currency", {"currency": "EUR"}, "currency"),
    ("unknown case", {"case_id": 987654321}, "case_id"),
    ("short justification", {"justification": "too short"}, "justification"),
    ("blank justification", {"justification": " " * 30}, "justification"),
    ("long justification", {"justification": "x" * 4001}, "justification"),
    (
        "control character",
        {"justification": "Billed twice in March\x00 by mistake"},
        "justification",
    ),
    ("unknown type", {"type": "bribe"}, "type"),
    ("unknown reason", {"reason": "whim"}, "reason"),
    ("unknown field", {"colour": "red"}, "colour"),
]


@pytest.mark.parametrize(
    ("change", "field"),
    [(c, f) for _, c, f in BAD_FIELDS],
    ids=[name for name, _, _ in BAD_FIELDS],
)
def test_bad_credit_input_is_a_422_naming_the_field_and_writes_nothing(
    client: TestClient,
    org: Org,
    customer: Customer,
    session_factory: sessionmaker[Session],
    change: dict[str, Any],
    field: str,
) -> None:
    before = _table_counts(session_factory)
    body = {**credit_body(customer.case.id, "10.00"), **change}
    headers = {**org.auth("agent"), "Idempotency-Key": f"bad-{field}-{id(change)}"}

    response = client.post("/api/v1/credits", json=body, headers=headers)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert problem["field"] == field
    assert problem["detail"]
    assert _table_counts(session_factory) == before


def test_a_missing_field_is_named(
    client: TestClient, org: Org, customer: Customer
) -> None:
    body = credit_body(customer.case.id, "10.00")
    del body["justification"]
    response = client.post("/api/v1/credits", json=body, headers=org.auth("agent"))
    assert response.status_code == 422
    assert response.json()["field"] == "justification"


def test_malformed_json_is_a_422_on_the_body(
    client: TestClient, org: Org, session_factory: sessionmaker[Session]
) -> None:
    before = _table_counts(session_factory)
    response = client.post(
        "/api/v1/credits",
        content=b'{"case_id": 1, "amount": ',
        headers={**org.auth("agent"), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["field"] == "body"
    assert _table_counts(session_factory) == before


def test_justification_at_the_limits_is_accepted(
    client: TestClient, org: Org, customer: Customer
) -> None:
    for text in ("x" * 20, "y" * 4000):
        body = credit_body(customer.case.id, "1.00", justification=text)
        response = client.post("/api/v1/credits", json=body, headers=org.auth("agent"))
        assert response.status_code == 201, response.text


def test_junior_agents_and_auditors_cannot_raise_credits(
    client: TestClient, org: Org, customer: Customer
) -> None:
    body = credit_body(customer.case.id, "5.00")
    for who in ("junior", "auditor"):
        response = client.post("/api/v1/credits", json=body, headers=org.auth(who))
        assert response.status_code == 403


def test_preview_decides_and_writes_nothing(
    client: TestClient,
    org: Org,
    customer: Customer,
    session_factory: sessionmaker[Session],
) -> None:
    before = _table_counts(session_factory)
    response = client.post(
        "/api/v1/credits/preview",
        json=credit_body(customer.case.id, "35.00"),
        headers=org.auth("agent"),
    )
    assert response.status_code == 200
    assert response.json()["outcome"] == "approval_required"
    assert _table_counts(session_factory) == before


def test_problem_bodies_are_json_with_the_rfc_9457_members(
    client: TestClient, org: Org, customer: Customer
) -> None:
    body = credit_body(customer.case.id, "10.001")
    response = client.post("/api/v1/credits", json=body, headers=org.auth("agent"))
    problem = json.loads(response.content)
    assert {"type", "title", "status", "detail", "instance"} <= problem.keys()
    assert problem["instance"] == "/api/v1/credits"
    assert problem["errors"][0]["field"] == "amount"
    assert "decimal places" in problem["errors"][0]["message"]


def test_justification_text_constant_is_long_enough() -> None:
    assert len(JUSTIFICATION) >= 20
