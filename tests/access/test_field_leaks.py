"""Nothing a junior agent can fetch reveals a credit's amount or justification:
not a field, not a rule message, not an audit change, not an error body."""

import re
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.access.field_support import keys_in
from tests.api_helpers import credit_body, raise_credit
from tests.factories import Org, make_customer

CREDITS = "/api/v1/credits"

# Unusual amounts: auto-approved, one approval step, three steps, refused.
AMOUNTS = ("13.57", "987.65", "4321.09", "6789.01")
HIDDEN_KEYS = {"amount", "amount_minor", "justification"}
MONEY_TEXT = re.compile(r"\b[A-Z]{3} \d")


@pytest.fixture(scope="module")
def raised(
    client: TestClient, org: Org, session_factory: sessionmaker[Session]
) -> list[dict[str, Any]]:
    customer = make_customer(
        session_factory, owner=org.junior, cap_minor=500_000, disputed_minor=10**8
    )
    credits = []
    for amount in AMOUNTS:
        words = f"Goodwill after an outage, secret {uuid.uuid4().hex}"
        credit = raise_credit(
            client, org.auth("agent"), customer.case.id, amount, justification=words
        )
        credits.append({**credit, "secret": words})
    # A decided step and a rejection put comments and more entries on record.
    lead = org.auth("lead")
    client.post(f"{CREDITS}/{credits[1]['id']}/approve", headers=lead)
    client.post(
        f"{CREDITS}/{credits[2]['id']}/reject", json={"comment": "No"}, headers=lead
    )
    return credits


def _junior_fetches(
    client: TestClient, org: Org, raised: list[dict[str, Any]]
) -> list[tuple[str, Any]]:
    """Every response a junior agent can get about these credits."""
    junior = org.auth("junior")
    case_id = raised[0]["case_id"]
    gets = [
        (CREDITS, {"case_id": case_id}),
        (CREDITS, {"case_id": case_id, "sort": "-created_at", "limit": 1}),
        (CREDITS, {"case_id": case_id, "fields": "status,decision,reason"}),
        ("/api/v1/approvals", {}),
        # Refused: not the junior's business, but the bodies must not leak.
        (CREDITS, {"case_id": case_id, "sort": "-amount"}),
        (CREDITS, {"amount_min": AMOUNTS[1], "currency": "GBP"}),
        (CREDITS, {"fields": "amount"}),
        (CREDITS, {"cursor": "garbage"}),
        ("/api/v1/audit/entries", {"entity_type": "credit"}),
        (f"{CREDITS}/BC-999999999", {}),
    ]
    for credit in raised:
        for ref in (credit["id"], credit["number"]):
            gets.append((f"{CREDITS}/{ref}", {}))
        gets.append((f"{CREDITS}/{credit['id']}/history", {}))

    responses = [
        (path, client.get(path, params=params, headers=junior)) for path, params in gets
    ]
    for credit in raised:
        for action in ("approve", "reject", "recall"):
            path = f"{CREDITS}/{credit['id']}/{action}"
            responses.append(
                (path, client.post(path, json={"comment": "x"}, headers=junior))
            )
    for path in (CREDITS, f"{CREDITS}/preview"):
        body = credit_body(case_id, AMOUNTS[0])
        responses.append((path, client.post(path, json=body, headers=junior)))
    return [(path, r) for path, r in responses]


def test_a_junior_agent_never_sees_the_amount_or_justification(
    client: TestClient, org: Org, raised: list[dict[str, Any]]
) -> None:
    secrets = [c["secret"] for c in raised]
    # What the junior sent in the refused POSTs comes back to nobody else.
    own_input = AMOUNTS[0]

    fetched = _junior_fetches(client, org, raised)

    statuses = {r.status_code for _, r in fetched}
    assert 200 in statuses and {400, 403, 404, 422} <= statuses
    for path, response in fetched:
        text = response.text
        for amount in AMOUNTS:
            if amount != own_input:
                assert amount not in text, (path, text)
        for secret in secrets:
            assert secret not in text, (path, text)
        assert not MONEY_TEXT.search(text), (path, text)
        if response.headers["content-type"].endswith("json"):
            document = response.json()
            # amount_minor, as an audit change key, covers the bare integer.
            assert not HIDDEN_KEYS & keys_in(document), (path, text)


def test_the_credits_are_there_for_the_agent(
    client: TestClient, org: Org, raised: list[dict[str, Any]]
) -> None:
    # The leak test means something only if the values are on record.
    statuses = [c["status"] for c in raised]
    assert statuses == ["approved", "pending_approval", "pending_approval", "refused"]
    for credit in raised:
        shown = client.get(f"{CREDITS}/{credit['id']}", headers=org.auth("agent"))
        assert shown.json()["amount"] == credit["amount"]
        assert shown.json()["justification"] == credit["secret"]
