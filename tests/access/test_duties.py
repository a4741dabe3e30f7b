"""Segregation of duties: who may never decide, and auditors who only read."""

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.access.service import actor_for
from creditdesk.actors import Channel
from creditdesk.config import Settings
from creditdesk.credits import decisions
from creditdesk.errors import Forbidden
from creditdesk.users.models import Role
from tests.access.support import AccessOrg, add_person, make_credit
from tests.api_helpers import credit_body
from tests.factories import make_customer


def test_nobody_decides_a_credit_they_requested(
    client: TestClient, session_factory: sessionmaker[Session], people: AccessOrg
) -> None:
    made = make_credit(session_factory, people.users["lead"])
    url = f"/api/v1/credits/{made.credit_id}"

    refused = client.post(f"{url}/approve", headers=people.auth("lead"))

    assert refused.status_code == 403
    assert refused.json()["rule"] == "own_credit"
    assert "they requested" in refused.json()["detail"]
    assert client.get(url, headers=people.auth("lead")).status_code == 200


def test_an_approver_may_not_report_to_the_requester(
    client: TestClient, session_factory: sessionmaker[Session], people: AccessOrg
) -> None:
    # The head has no manager, so the step goes to the queue of all managers;
    # two of them report to the head, so the work never reaches them: they
    # hold no item and cannot see the credit at all.
    head = add_person(session_factory, people, "head", Role.MANAGER)
    add_person(session_factory, people, "deputy", Role.MANAGER, manager="head")
    add_person(session_factory, people, "deputy_2", Role.MANAGER, manager="deputy")
    add_person(session_factory, people, "stranger", Role.MANAGER)
    made = make_credit(session_factory, head)
    url = f"/api/v1/credits/{made.credit_id}"

    for who in ("deputy", "deputy_2"):
        refused = client.post(
            f"{url}/reject", json={"comment": "no"}, headers=people.auth(who)
        )
        assert refused.status_code == 404
        inbox = client.get("/api/v1/approvals", headers=people.auth(who)).json()
        assert made.credit_id not in [i["credit"]["id"] for i in inbox["items"]]
    approved = client.post(f"{url}/approve", headers=people.auth("stranger"))
    assert approved.status_code == 200, approved.text


def test_one_person_decides_one_step_of_a_credit(
    client: TestClient, session_factory: sessionmaker[Session], people: AccessOrg
) -> None:
    # The boss is the agent's manager (step one) and, having no manager of
    # their own, also a member of the queue that gets step two.
    add_person(session_factory, people, "boss", Role.MANAGER)
    agent = add_person(
        session_factory, people, "boss_agent", Role.AGENT, manager="boss"
    )
    add_person(session_factory, people, "boss_peer", Role.MANAGER)
    made = make_credit(session_factory, agent, "2000.00", cap_minor=10**7)
    url = f"/api/v1/credits/{made.credit_id}"

    first = client.post(f"{url}/approve", headers=people.auth("boss"))
    assert first.status_code == 200, first.text
    second = client.post(f"{url}/approve", headers=people.auth("boss"))
    assert second.status_code == 403
    assert second.json()["rule"] == "two_steps"
    assert (
        client.post(f"{url}/approve", headers=people.auth("boss_peer")).status_code
        == 200
    )


def test_administrators_never_decide(
    client: TestClient, session_factory: sessionmaker[Session], people: AccessOrg
) -> None:
    made = make_credit(session_factory, people.users["agent"])
    url = f"/api/v1/credits/{made.credit_id}"

    # Over the API the admin's token has no approve scope to begin with...
    refused = client.post(f"{url}/approve", headers=people.auth("admin"))
    assert refused.status_code == 403
    assert client.get(url, headers=people.auth("admin")).status_code == 200

    # ...and the service refuses an admin whatever the channel.
    admin = people.users["admin"]
    with session_factory() as session, pytest.raises(Forbidden) as raised:
        decisions.decide(
            session,
            credit_id=made.credit_id,
            user=admin,
            approve=True,
            comment=None,
            actor=actor_for(admin, Channel.CLI),
            now=datetime.now(UTC),
            settings=Settings(),
        )
    assert raised.value.extra["rule"] == "admin_not_approver"


def test_auditors_read_everything_and_write_nothing(
    client: TestClient, session_factory: sessionmaker[Session], people: AccessOrg
) -> None:
    made = make_credit(session_factory, people.users["agent"])
    customer = make_customer(session_factory, owner=people.users["agent"])
    url = f"/api/v1/credits/{made.credit_id}"
    headers = people.auth("auditor")

    writes = {
        "approve": client.post(f"{url}/approve", headers=headers),
        "reject": client.post(f"{url}/reject", json={"comment": "no"}, headers=headers),
        "recall": client.post(f"{url}/recall", headers=headers),
        "share": client.post(
            f"{url}/shares", json={"user_id": people.id("lead")}, headers=headers
        ),
        "raise": client.post(
            "/api/v1/credits",
            json=credit_body(customer.case.id, "5.00"),
            headers=headers,
        ),
        "case": client.post(
            "/api/v1/cases",
            json={
                "account_id": customer.account.id,
                "subject": "Wrong bill",
                "type": "billing_dispute",
            },
            headers=headers,
        ),
    }

    assert {name: r.status_code for name, r in writes.items()} == dict.fromkeys(
        writes, 403
    )
    # An auditor's token has no approve scope; other writes reach the service.
    for name in ("approve", "reject"):
        assert "'approve' scope" in writes[name].json()["detail"]
    for name in ("recall", "share"):
        assert "auditors are read-only" in writes[name].json()["detail"]
    assert client.get(url, headers=headers).status_code == 200
    assert client.get(f"{url}/history", headers=headers).status_code == 200


def test_an_edit_share_never_lets_anyone_decide(
    client: TestClient, session_factory: sessionmaker[Session], people: AccessOrg
) -> None:
    made = make_credit(session_factory, people.users["agent"])
    url = f"/api/v1/credits/{made.credit_id}"
    client.post(
        f"{url}/shares",
        json={"user_id": people.id("b_lead"), "access": "edit"},
        headers=people.auth("agent"),
    )

    refused = client.post(f"{url}/approve", headers=people.auth("b_lead"))

    assert refused.status_code == 403
    assert refused.json()["rule"] == "not_assigned"
