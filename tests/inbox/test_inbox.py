"""Billing systems call back over real HTTP: a verified "memo applied" event
applies a posted credit once and resolves its case; anything else is stored
and ignored, or refused without a trace."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.accounts.models import BillingSystem
from creditdesk.app import create_app
from creditdesk.cases.models import CaseStatus
from creditdesk.clock import FrozenClock
from creditdesk.config import Settings
from creditdesk.credits.models import CreditStatus
from creditdesk.inbox.settings import InboxSettings
from tests.billing import support as billing
from tests.factories import unique
from tests.inbox.support import (
    SECRETS,
    audit,
    basic,
    make_posted_credit,
    signed,
    stored,
)

NOW = datetime(2024, 5, 6, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """The app on a frozen clock, with secrets for webhook, Zuora and SAP and
    none for Salesforce."""
    app = create_app(settings, engine=engine, clock=FrozenClock(NOW))
    app.state.inbox_settings = InboxSettings(
        webhook_secret=SecretStr(SECRETS["webhook"]),
        zuora_secret=SecretStr(SECRETS["zuora"]),
        sap_secret=SecretStr(SECRETS["sap"]),
        salesforce_secret=None,
        zuora_username="zuora-callout",
        zuora_token_header="X-Inbox-Token",
    )
    with TestClient(app) as client:
        yield client


def memo_applied(reference: str, event_id: str | None = None) -> dict[str, str]:
    return {
        "id": event_id or unique("evt"),
        "type": "memo.applied",
        "reference": reference,
    }


def test_a_verified_callback_applies_the_credit_and_resolves_its_case(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    posted = make_posted_credit(session_factory, now=NOW, system=BillingSystem.WEBHOOK)

    answer = signed(client, "webhook", memo_applied(posted.external_ref), at=NOW)

    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "applied"
    assert answer.json()["error"] is None
    credit = billing.credit(session_factory, posted.approved)
    assert credit.status is CreditStatus.APPLIED
    assert credit.applied_at == NOW
    case = billing.case(session_factory, posted.approved)
    assert case.status is CaseStatus.RESOLVED

    (applied,) = audit(session_factory, "credit", credit.id, "credit.applied")
    assert (applied.actor_name, applied.channel) == ("inbox:webhook", "api")
    assert applied.actor_id is None
    (resolved,) = audit(session_factory, "case", case.id, "case.resolved")
    assert resolved.actor_name == "inbox:webhook"
    (received,) = audit(
        session_factory, "inbox_event", answer.json()["id"], "inbox.event_received"
    )
    assert received.actor_name == "inbox:webhook"


def test_the_same_event_twice_is_stored_once_and_applied_once(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    posted = make_posted_credit(session_factory, now=NOW, system=BillingSystem.WEBHOOK)
    event = memo_applied(posted.external_ref)

    first = signed(client, "webhook", event, at=NOW)
    again = signed(client, "webhook", event, at=NOW + timedelta(seconds=30))

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert len(stored(session_factory, "webhook", event["id"])) == 1
    credit_id = posted.approved.credit_id
    assert len(audit(session_factory, "credit", credit_id, "credit.applied")) == 1
    assert (
        len(
            audit(
                session_factory,
                "inbox_event",
                first.json()["id"],
                "inbox.event_received",
            )
        )
        == 1
    )


def test_a_bad_signature_is_refused_and_nothing_is_stored(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    posted = make_posted_credit(session_factory, now=NOW, system=BillingSystem.WEBHOOK)
    event = memo_applied(posted.external_ref)

    answer = signed(client, "webhook", event, at=NOW, secret="not-the-secret")
    unsigned = client.post("/api/v1/inbox/webhook", json=event)

    assert answer.status_code == unsigned.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("/not-authenticated")
    assert stored(session_factory, "webhook", event["id"]) == []
    credit = billing.credit(session_factory, posted.approved)
    assert credit.status is CreditStatus.POSTED


def test_a_stale_timestamp_is_refused(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    posted = make_posted_credit(session_factory, now=NOW, system=BillingSystem.WEBHOOK)
    event = memo_applied(posted.external_ref)

    answer = signed(client, "webhook", event, at=NOW - timedelta(minutes=6))

    assert answer.status_code == 401
    assert stored(session_factory, "webhook", event["id"]) == []


def test_an_unknown_reference_is_stored_as_ignored(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    event = memo_applied(unique("NOPE"))

    answer = signed(client, "webhook", event, at=NOW)

    assert answer.status_code == 200
    assert answer.json()["outcome"] == "ignored"
    assert "no webhook credit has the reference" in answer.json()["error"]
    (row,) = stored(session_factory, "webhook", event["id"])
    assert row.payload == event
    assert row.processed_at == NOW


def test_a_credit_of_another_system_or_not_posted_is_ignored(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    at_sap = make_posted_credit(session_factory, now=NOW, system=BillingSystem.SAP)
    posted = make_posted_credit(session_factory, now=NOW, system=BillingSystem.WEBHOOK)
    first = signed(client, "webhook", memo_applied(posted.external_ref), at=NOW)
    assert first.json()["outcome"] == "applied"

    elsewhere = signed(client, "webhook", memo_applied(at_sap.external_ref), at=NOW)
    not_posted = signed(client, "webhook", memo_applied(posted.external_ref), at=NOW)

    assert elsewhere.json()["outcome"] == "ignored"
    assert billing.credit(session_factory, at_sap.approved).status is (
        CreditStatus.POSTED
    )
    assert not_posted.status_code == 200
    assert not_posted.json()["outcome"] == "ignored"
    assert "is applied, not posted" in not_posted.json()["error"]


def test_an_unknown_event_type_is_stored_as_ignored(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    posted = make_posted_credit(session_factory, now=NOW, system=BillingSystem.WEBHOOK)
    event = {**memo_applied(posted.external_ref), "type": "memo.disputed"}

    answer = signed(client, "webhook", event, at=NOW)

    assert answer.json()["outcome"] == "ignored"
    assert "memo.disputed" in answer.json()["error"]
    credit = billing.credit(session_factory, posted.approved)
    assert credit.status is CreditStatus.POSTED


def test_a_system_without_a_secret_has_no_endpoint(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    event = {"id": unique("evt"), "type": "CreditNote.Allocated", "creditNoteId": "a"}

    signed_anyway = signed(client, "salesforce", event, at=NOW, secret="guess")
    unknown = signed(client, "netsuite", event, at=NOW, secret="guess")

    assert signed_anyway.status_code == unknown.status_code == 404
    assert stored(session_factory, "salesforce", event["id"]) == []


def test_a_malformed_body_names_the_field(client: TestClient) -> None:
    answer = signed(client, "webhook", {"id": unique("evt"), "type": "x"}, at=NOW)

    assert answer.status_code == 422
    assert answer.json()["field"] == "reference"


def test_a_zuora_callout_with_basic_auth_applies_the_credit(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    posted = make_posted_credit(session_factory, now=NOW, system=BillingSystem.ZUORA)
    callout = {
        "eventId": unique("zevt"),
        "eventType": "CreditMemoApplied",
        "creditMemoNumber": posted.external_ref,
        "invoiceNumber": "INV00000001",
    }

    answer = client.post(
        "/api/v1/inbox/zuora",
        json=callout,
        headers=basic("zuora-callout", SECRETS["zuora"]),
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "applied"
    assert billing.credit(session_factory, posted.approved).status is (
        CreditStatus.APPLIED
    )


def test_a_zuora_callout_with_the_header_token_is_accepted(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    callout = {
        "id": unique("zevt"),
        "eventType": "CreditMemoApplied",
        "creditMemoNumber": unique("CM"),
    }

    answer = client.post(
        "/api/v1/inbox/zuora",
        json=callout,
        headers={"X-Inbox-Token": SECRETS["zuora"]},
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["external_event_id"] == callout["id"]


@pytest.mark.parametrize(
    "headers",
    [
        basic("zuora-callout", "wrong"),
        basic("someone-else", SECRETS["zuora"]),
        {"Authorization": "Basic not-base64!"},
        {"X-Inbox-Token": "wrong"},
        {},
    ],
)
def test_a_zuora_callout_with_wrong_credentials_is_refused(
    client: TestClient,
    session_factory: sessionmaker[Session],
    headers: dict[str, str],
) -> None:
    callout = {
        "eventId": unique("zevt"),
        "eventType": "CreditMemoApplied",
        "creditMemoNumber": unique("CM"),
    }

    answer = client.post("/api/v1/inbox/zuora", json=callout, headers=headers)

    assert answer.status_code == 401
    assert stored(session_factory, "zuora", callout["eventId"]) == []


def test_sap_signs_like_the_webhook(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    posted = make_posted_credit(session_factory, now=NOW, system=BillingSystem.SAP)
    event = {
        "id": unique("sevt"),
        "type": "CreditMemoRequest.Billed",
        "creditMemoRequest": posted.external_ref,
    }

    answer = signed(client, "sap", event, at=NOW)

    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "applied"


def test_the_routes_need_no_bearer_token_in_the_api_docs(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/api/v1/inbox/{system}"]
    assert operation["post"]["security"] == []
    assert operation["post"]["x-authenticated-by"] == "vendor-signature"
