"""Sharing one credit with one user, and sharing rules between groups."""

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.audit.models import AuditEntry
from creditdesk.users.models import Role
from tests.access.support import AccessOrg, add_person, make_credit, new_team


def actions(factory: sessionmaker[Session], entity_type: str, entity_id: int) -> list:
    with factory() as session:
        return list(
            session.scalars(
                sa.select(AuditEntry.action)
                .where(
                    AuditEntry.entity_type == entity_type,
                    AuditEntry.entity_id == str(entity_id),
                )
                .order_by(AuditEntry.seq)
            )
        )


def test_share_then_revoke_keeps_the_share_as_history(
    client: TestClient, session_factory: sessionmaker[Session], people: AccessOrg
) -> None:
    made = make_credit(session_factory, people.users["agent"])
    url = f"/api/v1/credits/{made.credit_id}"
    body = {"user_id": people.id("b_agent"), "access": "read"}

    shared = client.post(f"{url}/shares", json=body, headers=people.auth("agent"))
    assert shared.status_code == 201, shared.text
    assert shared.json()["granted_by_id"] == people.id("agent")
    assert client.get(url, headers=people.auth("b_agent")).status_code == 200
    again = client.post(f"{url}/shares", json=body, headers=people.auth("lead"))
    assert again.status_code == 409

    share_id = shared.json()["id"]
    revoked = client.delete(f"{url}/shares/{share_id}", headers=people.auth("manager"))
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_by_id"] == people.id("manager")
    assert client.get(url, headers=people.auth("b_agent")).status_code == 404

    history = client.get(f"{url}/shares", headers=people.auth("agent")).json()
    assert [s["id"] for s in history["items"]] == [share_id]
    assert history["items"][0]["revoked_at"] is not None
    twice = client.delete(f"{url}/shares/{share_id}", headers=people.auth("agent"))
    assert twice.status_code == 409
    audit = actions(session_factory, "credit", made.credit_id)
    assert audit[-2:] == ["credit.shared", "credit.share_revoked"]


def test_an_edit_grantee_shares_on_and_revokes_what_they_granted(
    client: TestClient, session_factory: sessionmaker[Session], people: AccessOrg
) -> None:
    made = make_credit(session_factory, people.users["agent"])
    url = f"/api/v1/credits/{made.credit_id}/shares"
    client.post(
        url,
        json={"user_id": people.id("b_agent"), "access": "edit"},
        headers=people.auth("agent"),
    )

    onward = client.post(
        url, json={"user_id": people.id("c_agent")}, headers=people.auth("b_agent")
    )
    assert onward.status_code == 201, onward.text
    revoked = client.delete(
        f"{url}/{onward.json()['id']}", headers=people.auth("b_agent")
    )
    assert revoked.status_code == 200


def test_a_read_grantee_may_not_revoke_others_shares(
    client: TestClient, session_factory: sessionmaker[Session], people: AccessOrg
) -> None:
    made = make_credit(session_factory, people.users["agent"])
    url = f"/api/v1/credits/{made.credit_id}/shares"
    for who in ("b_agent", "c_agent"):
        client.post(url, json={"user_id": people.id(who)}, headers=people.auth("agent"))
    shares = client.get(url, headers=people.auth("agent")).json()["items"]
    c_share = next(s for s in shares if s["user_id"] == people.id("c_agent"))

    refused = client.delete(f"{url}/{c_share['id']}", headers=people.auth("b_agent"))
    assert refused.status_code == 403


def test_bad_grantees_and_share_ids_are_refused(
    client: TestClient, session_factory: sessionmaker[Session], people: AccessOrg
) -> None:
    made = make_credit(session_factory, people.users["agent"])
    other = make_credit(session_factory, people.users["agent"])
    url = f"/api/v1/credits/{made.credit_id}/shares"
    headers = people.auth("agent")

    for user_id in (2**40, people.id("agent")):
        bad = client.post(url, json={"user_id": user_id}, headers=headers)
        assert (bad.status_code, bad.json()["field"]) == (422, "user_id")
    wrong_access = client.post(
        url, json={"user_id": people.id("lead"), "access": "own"}, headers=headers
    )
    assert wrong_access.status_code == 422

    elsewhere = client.post(
        f"/api/v1/credits/{other.credit_id}/shares",
        json={"user_id": people.id("b_agent")},
        headers=headers,
    ).json()
    assert client.delete(f"{url}/{elsewhere['id']}", headers=headers).status_code == 404
    assert client.delete(f"{url}/{2**40}", headers=headers).status_code == 404


def rule(client: TestClient, people: AccessOrg, who: str = "admin", **fields):
    body = {"access": "read"} | fields
    return client.post(
        "/api/v1/admin/sharing-rules", json=body, headers=people.auth(who)
    )


def test_only_administrators_keep_sharing_rules(
    client: TestClient, people: AccessOrg
) -> None:
    team = str(people.teams["b"])
    fields = {"grantee_kind": "team", "grantee": team}
    fields |= {"owner_kind": "role", "owner": "agent"}
    for who in ("manager", "finance", "auditor"):
        assert rule(client, people, who, **fields).status_code == 403
        listed = client.get("/api/v1/admin/sharing-rules", headers=people.auth(who))
        assert listed.status_code == 403
        gone = client.delete("/api/v1/admin/sharing-rules/1", headers=people.auth(who))
        assert gone.status_code == 403


def test_rule_groups_must_exist(client: TestClient, people: AccessOrg) -> None:
    team = str(people.teams["b"])
    cases = [
        ({"grantee_kind": "team", "grantee": "999999999"}, "grantee"),
        ({"grantee_kind": "team", "grantee": "team-b"}, "grantee"),
        ({"grantee_kind": "role", "grantee": "wizard"}, "grantee"),
    ]
    for grantee, field in cases:
        answer = rule(client, people, **grantee, owner_kind="team", owner=team)
        assert (answer.status_code, answer.json()["field"]) == (422, field)
    owner = rule(
        client,
        people,
        grantee_kind="team",
        grantee=team,
        owner_kind="role",
        owner="boss",
    )
    assert (owner.status_code, owner.json()["field"]) == (422, "owner")


def test_a_role_rule_opens_a_teams_credits_until_deleted(
    client: TestClient,
    session_factory: sessionmaker[Session],
    people: AccessOrg,
) -> None:
    team = new_team(session_factory)
    owner = add_person(session_factory, people, "t_agent", Role.AGENT, team=team)
    made = make_credit(session_factory, owner)
    url = f"/api/v1/credits/{made.credit_id}"
    fields = {"grantee_kind": "role", "grantee": "junior_agent"}
    fields |= {"owner_kind": "team", "owner": str(team)}

    assert client.get(url, headers=people.auth("junior")).status_code == 404
    created = rule(client, people, **fields)
    assert created.status_code == 201, created.text
    assert rule(client, people, **fields).status_code == 409
    assert client.get(url, headers=people.auth("junior")).status_code == 200
    listed = client.get("/api/v1/admin/sharing-rules", headers=people.auth("admin"))
    assert created.json() in listed.json()["items"]

    rule_id = created.json()["id"]
    deleted = client.delete(
        f"/api/v1/admin/sharing-rules/{rule_id}", headers=people.auth("admin")
    )
    assert deleted.status_code == 204
    assert client.get(url, headers=people.auth("junior")).status_code == 404
    assert actions(session_factory, "sharing_rule", rule_id) == [
        "sharing_rule.created",
        "sharing_rule.deleted",
    ]


def test_an_edit_rule_by_requester_role_lets_the_grantee_recall(
    client: TestClient, session_factory: sessionmaker[Session], people: AccessOrg
) -> None:
    team = new_team(session_factory)
    add_person(session_factory, people, "x_agent", Role.AGENT, team=team)
    fields = {"grantee_kind": "team", "grantee": str(team), "access": "edit"}
    fields |= {"owner_kind": "role", "owner": "team_lead"}
    assert rule(client, people, **fields).status_code == 201
    made = make_credit(session_factory, people.users["b_lead"])
    url = f"/api/v1/credits/{made.credit_id}"

    assert client.get(url, headers=people.auth("x_agent")).status_code == 200
    recalled = client.post(f"{url}/recall", headers=people.auth("x_agent"))
    assert recalled.status_code == 200, recalled.text
    assert recalled.json()["status"] == "recalled"
