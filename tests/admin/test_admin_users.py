"""The administration API for users and teams: validation, audit, and who may
use it."""

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.audit.models import AuditEntry
from creditdesk.db import transaction
from creditdesk.users.models import Role, Team
from tests.api_helpers import raise_credit
from tests.factories import Org, make_customer, make_token, make_user

ADMIN = "/api/v1/admin"


def _name(prefix: str = "user") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}"


def _create(client: TestClient, org: Org, **fields: Any) -> dict[str, Any]:
    body = {"username": _name(), "role": "agent", **fields}
    response = client.post(f"{ADMIN}/users", json=body, headers=org.auth("admin"))
    assert response.status_code == 201, response.text
    return response.json()


def _patch(client: TestClient, org: Org, user_id: int, **fields: Any) -> Response:
    return client.patch(
        f"{ADMIN}/users/{user_id}", json=fields, headers=org.auth("admin")
    )


def _entries(
    factory: sessionmaker[Session], entity_type: str, entity_id: int
) -> list[AuditEntry]:
    with factory() as session:
        query = (
            sa.select(AuditEntry)
            .where(
                AuditEntry.entity_type == entity_type,
                AuditEntry.entity_id == str(entity_id),
            )
            .order_by(AuditEntry.seq)
        )
        return list(session.scalars(query))


ROUTES = [
    ("get", "/users", None),
    ("get", "/users/1", None),
    ("post", "/users", {"username": "nobody-here", "role": "agent"}),
    ("patch", "/users/1", {"display_name": "X"}),
    ("get", "/teams", None),
    ("post", "/teams", {"name": "Never"}),
    ("patch", "/teams/1", {"name": "Never"}),
    ("get", "/field-permissions", None),
    ("put", "/field-permissions/agent/credit/amount", {"level": "hidden"}),
    ("delete", "/field-permissions/agent/credit/amount", None),
]


@pytest.mark.parametrize("who", ["agent", "junior", "manager", "finance", "auditor"])
@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_only_administrators_may_use_the_admin_api(
    client: TestClient, org: Org, who: str, method: str, path: str, body: Any
) -> None:
    kwargs = {"json": body} if body is not None else {}
    response = client.request(method, ADMIN + path, headers=org.auth(who), **kwargs)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


def test_create_get_and_list_users_with_a_cursor(
    client: TestClient, org: Org, session_factory: sessionmaker[Session]
) -> None:
    team = _name("team")
    made = [
        _create(client, org, team=team, manager=org.lead.username) for _ in range(3)
    ]
    assert made[0]["team"] == team and made[0]["manager"] == org.lead.username

    got = client.get(f"{ADMIN}/users/{made[1]['id']}", headers=org.auth("admin"))
    assert got.json() == made[1]

    first = client.get(
        f"{ADMIN}/users", params={"limit": 2}, headers=org.auth("admin")
    ).json()
    second = client.get(
        f"{ADMIN}/users",
        params={"limit": 2, "cursor": first["next_cursor"]},
        headers=org.auth("admin"),
    ).json()
    ids = [u["id"] for u in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 4
    assert [u["id"] for u in first["items"]] == [made[2]["id"], made[1]["id"]]

    created = _entries(session_factory, "user", made[0]["id"])
    assert created[0].action == "user.created"
    assert created[0].actor_id == org.admin.id


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"username": "No Spaces", "role": "agent"}, "username", 422),
        ({"username": "valid-name-x", "role": "boss"}, "role", 422),
        ({"username": "valid-name-y", "role": "agent", "email": "x"}, "email", 422),
        (
            {"username": "valid-name-z", "role": "agent", "manager": "ghost.x"},
            "manager",
            422,
        ),
    ],
)
def test_create_user_validation_names_the_field(
    client: TestClient, org: Org, body: dict[str, Any], field: str, status: int
) -> None:
    response = client.post(f"{ADMIN}/users", json=body, headers=org.auth("admin"))
    assert response.status_code == status, response.text
    assert response.json()["field"] == field


def test_a_taken_username_is_a_conflict(client: TestClient, org: Org) -> None:
    user = _create(client, org)
    again = client.post(
        f"{ADMIN}/users",
        json={"username": user["username"], "role": "agent"},
        headers=org.auth("admin"),
    )
    assert again.status_code == 409


def test_patch_changes_only_the_fields_given_and_audits_them(
    client: TestClient, org: Org, session_factory: sessionmaker[Session]
) -> None:
    user = _create(client, org, display_name="Before", email="a@example.test")
    team = _name("team")

    response = _patch(
        client,
        org,
        user["id"],
        display_name="After",
        team=team,
        manager=org.manager.username,
    )

    assert response.status_code == 200, response.text
    after = response.json()
    assert after["display_name"] == "After" and after["email"] == "a@example.test"
    assert after["team"] == team and after["manager"] == org.manager.username
    updated = _entries(session_factory, "user", user["id"])[-1]
    assert updated.action == "user.updated"
    assert '"display_name":["Before","After"]' in updated.changes.replace(" ", "")

    cleared = _patch(client, org, user["id"], team=None, manager=None).json()
    assert cleared["team"] is None and cleared["manager"] is None


def test_an_unchanged_patch_writes_no_audit_entry(
    client: TestClient, org: Org, session_factory: sessionmaker[Session]
) -> None:
    user = _create(client, org, display_name="Same")
    before = len(_entries(session_factory, "user", user["id"]))
    assert _patch(client, org, user["id"], display_name="Same").status_code == 200
    assert len(_entries(session_factory, "user", user["id"])) == before


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"role": "overlord"}, "role"),
        ({"role": None}, "role"),
        ({"is_active": None}, "is_active"),
        ({"display_name": ""}, "display_name"),
        ({"manager": "ghost.nobody"}, "manager"),
        ({"username": "renamed"}, "username"),
    ],
)
def test_patch_validation_names_the_field(
    client: TestClient, org: Org, fields: dict[str, Any], field: str
) -> None:
    user = _create(client, org)
    response = _patch(client, org, user["id"], **fields)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


def test_a_user_cannot_manage_themselves_or_close_a_cycle(
    client: TestClient, org: Org
) -> None:
    top = _create(client, org)
    middle = _create(client, org, manager=top["username"])
    bottom = _create(client, org, manager=middle["username"])

    itself = _patch(client, org, top["id"], manager=top["username"])
    assert itself.status_code == 422 and itself.json()["field"] == "manager"
    cycle = _patch(client, org, top["id"], manager=bottom["username"])
    assert cycle.status_code == 422 and cycle.json()["field"] == "manager"
    assert "cycle" in cycle.json()["detail"]

    fine = _patch(client, org, bottom["id"], manager=top["username"])
    assert fine.status_code == 200


def test_an_administrator_cannot_demote_or_deactivate_themselves(
    client: TestClient, org: Org
) -> None:
    demote = _patch(client, org, org.admin.id, role="agent")
    assert demote.status_code == 422 and demote.json()["field"] == "role"
    leave = _patch(client, org, org.admin.id, is_active=False)
    assert leave.status_code == 422 and leave.json()["field"] == "is_active"


def test_a_missing_user_is_404(client: TestClient, org: Org) -> None:
    assert (
        client.get(f"{ADMIN}/users/999999999", headers=org.auth("admin")).status_code
        == 404
    )
    assert _patch(client, org, 999999999, display_name="X").status_code == 404


def test_a_role_change_takes_effect_on_the_next_request(
    client: TestClient, org: Org, session_factory: sessionmaker[Session]
) -> None:
    with transaction(session_factory) as session:
        # In the agent's team, so the agent may raise a credit on their case.
        team = session.get(Team, org.team.id)
        user = make_user(session, role=Role.JUNIOR_AGENT, team=team)
        token = make_token(session, user=user)
    auth = {"Authorization": f"Bearer {token}"}
    customer = make_customer(session_factory, owner=user, cap_minor=10**9)
    credit = raise_credit(client, org.auth("agent"), customer.case.id, "6.42")
    path = f"/api/v1/credits/{credit['id']}"

    # The first request caches the sign-in, as the junior agent.
    assert "amount" not in client.get(path, headers=auth).json()

    assert _patch(client, org, user.id, role="agent").status_code == 200
    assert client.get(path, headers=auth).json()["amount"] == "6.42"

    assert _patch(client, org, user.id, is_active=False).status_code == 200
    assert client.get(path, headers=auth).status_code == 401


def test_teams_list_create_and_rename(
    client: TestClient, org: Org, session_factory: sessionmaker[Session]
) -> None:
    admin = org.auth("admin")
    name = _name("Team")
    created = client.post(f"{ADMIN}/teams", json={"name": name}, headers=admin)
    assert created.status_code == 201
    team = created.json()

    again = client.post(f"{ADMIN}/teams", json={"name": name}, headers=admin)
    assert again.status_code == 409

    new_name = _name("Renamed")
    renamed = client.patch(
        f"{ADMIN}/teams/{team['id']}", json={"name": new_name}, headers=admin
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == new_name
    taken = client.patch(
        f"{ADMIN}/teams/{team['id']}", json={"name": org.team.name}, headers=admin
    )
    assert taken.status_code == 409
    blank = client.patch(
        f"{ADMIN}/teams/{team['id']}", json={"name": "  "}, headers=admin
    )
    assert blank.status_code == 422 and blank.json()["field"] == "team"
    missing = client.patch(
        f"{ADMIN}/teams/999999999", json={"name": "X"}, headers=admin
    )
    assert missing.status_code == 404

    listed = client.get(f"{ADMIN}/teams", headers=admin).json()
    assert any(t["id"] == team["id"] and t["name"] == new_name for t in listed)
    actions = [e.action for e in _entries(session_factory, "team", team["id"])]
    assert "team.created" in actions and "team.renamed" in actions
