"""GET /api/v1/audit/verify and /api/v1/audit/entries, for auditors only."""

import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.audit import service as audit
from creditdesk.db import transaction
from creditdesk.users.models import Role
from tests.audit.support import START, agent
from tests.factories import make_token, make_user


def headers_for(factory: sessionmaker[Session], role: Role) -> dict[str, str]:
    with transaction(factory) as session:
        token = make_token(session, user=make_user(session, role=role))
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.ADMIN])
def test_auditors_and_admins_verify_the_chain(
    client: TestClient, session_factory: sessionmaker[Session], role: Role
) -> None:
    with transaction(session_factory) as session:
        audit.record(session, actor=agent(), action="a", entity_type="t", entity_id=1)

    response = client.get(
        "/api/v1/audit/verify", headers=headers_for(session_factory, role)
    )

    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True, body
    assert body["checked"] >= 1
    assert (body["first_bad_seq"], body["problem"]) == (None, None)


@pytest.mark.parametrize("role", [Role.AGENT, Role.MANAGER, Role.FINANCE])
def test_other_roles_may_not(
    client: TestClient, session_factory: sessionmaker[Session], role: Role
) -> None:
    headers = headers_for(session_factory, role)

    verify = client.get("/api/v1/audit/verify", headers=headers)
    entries = client.get("/api/v1/audit/entries", headers=headers)

    assert (verify.status_code, entries.status_code) == (403, 403)
    assert verify.headers["content-type"].startswith("application/problem+json")


def test_anonymous_callers_are_asked_to_authenticate(client: TestClient) -> None:
    assert client.get("/api/v1/audit/verify").status_code == 401


def test_entries_are_listed_newest_first_with_a_cursor(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    entity_id = uuid.uuid4().hex
    with transaction(session_factory) as session:
        for minute in range(3):
            audit.record(
                session,
                actor=agent(),
                action=f"credit.step{minute}",
                entity_type="credit",
                entity_id=entity_id,
                changes={"status": ("draft", "submitted"), "amount_minor": (None, 995)},
                reason="customer called",
                now=START + timedelta(minutes=minute),
            )
    headers = headers_for(session_factory, Role.AUDITOR)
    query = {"entity_type": "credit", "entity_id": entity_id, "limit": 2}

    first = client.get("/api/v1/audit/entries", params=query, headers=headers).json()
    cursor = first["next_cursor"]
    second = client.get(
        "/api/v1/audit/entries", params={**query, "cursor": cursor}, headers=headers
    ).json()

    assert [item["action"] for item in first["items"]] == [
        "credit.step2",
        "credit.step1",
    ]
    assert [item["action"] for item in second["items"]] == ["credit.step0"]
    assert second["next_cursor"] is None
    item = first["items"][0]
    assert item["changes"] == {
        "amount_minor": [None, 995],
        "status": ["draft", "submitted"],
    }
    assert item["occurred_at"].startswith("2026-03-01T09:02:00")
    assert (item["actor_id"], item["actor_name"], item["channel"]) == (
        7,
        "alice",
        "api",
    )
    assert item["reason"] == "customer called"
    assert len(item["hash"]) == len(item["prev_hash"]) == 64


def test_entries_filter_by_time(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    entity_id = uuid.uuid4().hex
    with transaction(session_factory) as session:
        for minute in range(4):
            audit.record(
                session,
                actor=agent(),
                action=f"case.step{minute}",
                entity_type="case",
                entity_id=entity_id,
                now=START + timedelta(minutes=minute),
            )
    params = {
        "entity_id": entity_id,
        "since": "2026-03-01T09:01:00Z",
        "until": "2026-03-01T10:03:00+01:00",
    }

    response = client.get(
        "/api/v1/audit/entries",
        params=params,
        headers=headers_for(session_factory, Role.ADMIN),
    )

    assert [i["action"] for i in response.json()["items"]] == [
        "case.step2",
        "case.step1",
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"since": "2026-03-01T09:00:00"},
        {"cursor": "not-a-cursor"},
        {"limit": "0"},
        {"limit": "100000"},
    ],
)
def test_bad_filters_are_422(
    client: TestClient, session_factory: sessionmaker[Session], params: dict
) -> None:
    response = client.get(
        "/api/v1/audit/entries",
        params=params,
        headers=headers_for(session_factory, Role.AUDITOR),
    )

    assert response.status_code == 422
    assert response.json()["field"] in params
