"""Field-level security: defaults, overrides, and masking in every response."""

import re
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.access import fields
from creditdesk.access.models import FieldLevel
from creditdesk.policy import engine
from creditdesk.users.models import Role
from tests.access.field_support import field_override, keys_in
from tests.api_helpers import credit_body, raise_credit
from tests.factories import Org, make_customer

CREDITS = "/api/v1/credits"


def _justification() -> str:
    return f"Refund for a double charge, marker {uuid.uuid4().hex}"


@pytest.fixture
def junior_case(session_factory: sessionmaker[Session], org: Org) -> int:
    """A case the junior agent owns, on an account with room under its cap."""
    customer = make_customer(session_factory, owner=org.junior, cap_minor=10**9)
    return customer.case.id


# --- Built-in levels ---------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "field", "level"),
    [
        (Role.JUNIOR_AGENT, "amount", FieldLevel.HIDDEN),
        (Role.JUNIOR_AGENT, "justification", FieldLevel.HIDDEN),
        (Role.JUNIOR_AGENT, "reason", FieldLevel.READ),
        (Role.AGENT, "amount", FieldLevel.EDIT),
        (Role.TEAM_LEAD, "justification", FieldLevel.EDIT),
        (Role.MANAGER, "amount", FieldLevel.EDIT),
        (Role.FINANCE, "amount", FieldLevel.READ),
        (Role.AUDITOR, "justification", FieldLevel.READ),
        (Role.ADMIN, "amount", FieldLevel.READ),
    ],
)
def test_built_in_levels(role: Role, field: str, level: FieldLevel) -> None:
    assert fields.default_level(role, fields.CREDIT, field) is level


def test_every_policy_rule_has_a_wording_without_amounts() -> None:
    # A rule added later must be classified, or its message is withheld whole.
    source = Path(engine.__file__).read_text()
    rule_ids = set(re.findall(r'"((?:[a-z_]+)\.(?:[a-z_]+))",\n', source))
    rule_ids |= set(re.findall(r'RuleHit\(\s*"([a-z_]+\.[a-z_]+)"', source))
    assert rule_ids, "no rule ids found in the engine"
    classified = engine.AMOUNT_FREE_RULES | set(engine.WITHOUT_AMOUNT)
    assert rule_ids <= classified
    for message in engine.WITHOUT_AMOUNT.values():
        assert not re.search(r"\d", message)


def test_money_in_free_text_is_withheld_when_the_amount_is_hidden() -> None:
    junior = fields.FieldView(
        Role.JUNIOR_AGENT, fields.CREDIT, fields.DEFAULTS[(Role.JUNIOR_AGENT, "credit")]
    )
    text = "Amount GBP 987.65 is above the limit of GBP 20.00 for agent"
    masked = junior.mask_text(text)
    assert "987.65" not in masked and "20.00" not in masked
    assert masked.startswith("Amount [amount withheld] is above")

    changes = {"amount_minor": [None, 98765], "justification": [None, "x"], "a": 1}
    assert junior.mask_changes(changes) == {"a": 1}


# --- Masking for a junior agent ----------------------------------------------

HIDDEN_FROM_JUNIOR = {"amount", "amount_minor", "justification"}


def test_junior_sees_a_credit_without_amount_or_justification(
    client: TestClient, org: Org, junior_case: int
) -> None:
    words = _justification()
    credit = raise_credit(
        client, org.auth("agent"), junior_case, "987.65", justification=words
    )

    shown = client.get(f"{CREDITS}/{credit['number']}", headers=org.auth("junior"))

    assert shown.status_code == 200
    body = shown.json()
    assert not HIDDEN_FROM_JUNIOR & set(body)
    assert {"number", "status", "type", "reason"} <= set(body)
    assert "987.65" not in shown.text and words not in shown.text
    rule = body["decision"]["rules"][0]
    assert rule["id"] == "amount.over_auto_limit"
    assert rule["message"] == "Amount is above the auto-approval limit"

    full = client.get(f"{CREDITS}/{credit['id']}", headers=org.auth("agent")).json()
    assert full["amount"] == "987.65" and full["justification"] == words
    assert "GBP 987.65" in full["decision"]["rules"][0]["message"]


def test_list_rows_leave_hidden_fields_out(
    client: TestClient, org: Org, junior_case: int
) -> None:
    raise_credit(client, org.auth("agent"), junior_case, "12.34")

    page = client.get(
        CREDITS, params={"case_id": junior_case}, headers=org.auth("junior")
    )

    assert page.status_code == 200
    rows = page.json()["items"]
    assert len(rows) == 1
    assert not HIDDEN_FROM_JUNIOR & set(rows[0])
    assert rows[0]["currency"] == "GBP"


def test_history_drops_hidden_changes_and_withholds_amounts_in_reasons(
    client: TestClient, org: Org, junior_case: int
) -> None:
    words = _justification()
    credit = raise_credit(
        client, org.auth("agent"), junior_case, "19.87", justification=words
    )

    history = client.get(
        f"{CREDITS}/{credit['id']}/history", headers=org.auth("junior")
    )

    assert history.status_code == 200
    entries = history.json()["entries"]
    requested = next(e for e in entries if e["action"] == "credit.requested")
    assert {"type", "reason", "currency"} <= set(requested["changes"])
    assert not HIDDEN_FROM_JUNIOR & set(requested["changes"])
    approved = next(e for e in entries if e["action"] == "credit.approved")
    assert "[amount withheld]" in approved["reason"]
    # A hash over the hidden values would let the amount be guessed offline.
    assert not {"hash", "prev_hash"} & keys_in(entries)
    assert "19.87" not in history.text and words not in history.text

    agent_view = client.get(
        f"{CREDITS}/{credit['id']}/history", headers=org.auth("agent")
    ).json()
    requested = next(
        e for e in agent_view["entries"] if e["action"] == "credit.requested"
    )
    assert requested["changes"]["amount_minor"] == [None, 1987]


def test_openapi_still_documents_the_masked_fields(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["CreditOut"]
    assert {"amount", "justification"} <= set(schema["properties"])
    assert "amount" not in schema["required"]


# --- Creating needs edit on amount and justification ---------------------------


@pytest.mark.parametrize("path", [CREDITS, f"{CREDITS}/preview"])
def test_a_junior_agent_may_not_raise_or_preview_a_credit(
    client: TestClient, org: Org, junior_case: int, path: str
) -> None:
    response = client.post(
        path, json=credit_body(junior_case, "5.00"), headers=org.auth("junior")
    )
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


def test_a_junior_agent_may_still_open_a_case(
    client: TestClient, org: Org, session_factory: sessionmaker[Session]
) -> None:
    customer = make_customer(session_factory, owner=org.agent)
    response = client.post(
        "/api/v1/cases",
        json={
            "account_id": customer.account.id,
            "subject": "Charged twice",
            "type": "billing_dispute",
        },
        headers=org.auth("junior"),
    )
    assert response.status_code == 201, response.text


# --- Overrides through the admin API -------------------------------------------


def test_hiding_justification_from_agents_masks_it_and_stops_them_raising(
    client: TestClient, org: Org, junior_case: int
) -> None:
    words = _justification()
    credit = raise_credit(
        client, org.auth("agent"), junior_case, "3.21", justification=words
    )
    path = f"{CREDITS}/{credit['id']}"

    with field_override(client, org, "agent", "justification", "hidden"):
        shown = client.get(path, headers=org.auth("agent"))
        assert "justification" not in shown.json()
        assert words not in shown.text
        refused = client.post(
            CREDITS, json=credit_body(junior_case, "1.00"), headers=org.auth("agent")
        )
        assert refused.status_code == 403
        assert refused.json()["field"] == "justification"

    restored = client.get(path, headers=org.auth("agent")).json()
    assert restored["justification"] == words


def test_read_only_amount_stops_raising_but_still_shows(
    client: TestClient, org: Org, junior_case: int
) -> None:
    with field_override(client, org, "agent", "amount", "read"):
        refused = client.post(
            CREDITS, json=credit_body(junior_case, "1.00"), headers=org.auth("agent")
        )
        assert refused.status_code == 403
        assert refused.json()["field"] == "amount"
        rows = client.get(
            CREDITS, params={"limit": 1}, headers=org.auth("agent")
        ).json()["items"]
        assert "amount" in rows[0]


def test_create_and_recall_responses_are_masked(
    client: TestClient, org: Org, junior_case: int
) -> None:
    with field_override(client, org, "agent", "invoice_ref", "hidden"):
        created = raise_credit(
            client, org.auth("agent"), junior_case, "45.00", invoice_ref="INV-7"
        )
        assert "invoice_ref" not in created
        recalled = client.post(
            f"{CREDITS}/{created['id']}/recall", headers=org.auth("agent")
        )
        assert recalled.status_code == 200, recalled.text
        assert recalled.json()["status"] == "recalled"
        assert "invoice_ref" not in recalled.json()


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_approvals_and_decisions_are_masked_for_the_approver(
    client: TestClient, org: Org, junior_case: int, decision: str
) -> None:
    words = _justification()
    credit = raise_credit(
        client, org.auth("agent"), junior_case, "45.67", justification=words
    )

    with (
        field_override(client, org, "team_lead", "amount", "hidden"),
        field_override(client, org, "team_lead", "justification", "hidden"),
    ):
        inbox = client.get("/api/v1/approvals", headers=org.auth("lead"))
        item = next(
            i for i in inbox.json()["items"] if i["credit"]["id"] == credit["id"]
        )
        assert not HIDDEN_FROM_JUNIOR & set(item["credit"])
        assert "45.67" not in inbox.text and words not in inbox.text

        decided = client.post(
            f"{CREDITS}/{credit['id']}/{decision}",
            json={"comment": "Checked against the invoice"},
            headers=org.auth("lead"),
        )
        assert decided.status_code == 200, decided.text
        assert not HIDDEN_FROM_JUNIOR & keys_in(decided.json())
        assert "45.67" not in decided.text and words not in decided.text


def test_audit_entries_are_masked_for_an_auditor_without_the_amount(
    client: TestClient, org: Org, junior_case: int
) -> None:
    credit = raise_credit(client, org.auth("agent"), junior_case, "17.29")
    query = {"entity_type": "credit", "entity_id": str(credit["id"])}

    with field_override(client, org, "auditor", "amount", "hidden"):
        masked = client.get(
            "/api/v1/audit/entries", params=query, headers=org.auth("auditor")
        )
        assert masked.status_code == 200
        assert masked.json()["items"]
        assert "amount_minor" not in keys_in(masked.json())
        assert "17.29" not in masked.text
        assert "justification" in keys_in(masked.json())
        assert "hash" not in keys_in(masked.json())

    full = client.get(
        "/api/v1/audit/entries", params=query, headers=org.auth("auditor")
    )
    assert {"amount_minor", "hash", "prev_hash"} <= keys_in(full.json())
