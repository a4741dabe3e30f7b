"""Token scopes per kind of route, expiry, revocation and the token API."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.access import service as access
from creditdesk.audit import service as audit
from creditdesk.auth import scopes
from creditdesk.clock import FrozenClock
from creditdesk.db import transaction
from creditdesk.users.models import Role, User
from tests.auth.conftest import make_person, sign_in
from tests.factories import TEST_ACTOR, make_user

TOKENS = "/api/v1/tokens"


def _token(
    factory: sessionmaker[Session],
    clock: FrozenClock,
    *,
    role: Role = Role.AGENT,
    scopes: list[str] | None = None,
    days: int = 1,
) -> tuple[int, dict[str, str]]:
    with transaction(factory) as session:
        user = make_user(session, role=role)
        raw = access.issue_token(
            session,
            user=user,
            actor=TEST_ACTOR,
            now=clock.now,
            ttl=timedelta(days=days),
            scopes=scopes,
        )
        return user.id, {"Authorization": f"Bearer {raw}"}


@pytest.mark.parametrize(
    ("method", "path", "route", "needed"),
    [
        ("GET", "/api/v1/credits", None, "read"),
        ("HEAD", "/api/v1/credits", None, "read"),
        ("POST", "/api/v1/credits", None, "write"),
        ("DELETE", "/api/v1/tokens/1", None, "write"),
        ("GET", "/api/v1/admin/users", None, "admin"),
        ("POST", "/api/v1/admin/users", None, "admin"),
        ("GET", "/api/v1/policy", None, "read"),
        ("PUT", "/api/v1/policy", None, "admin"),
    ],
)
def test_the_scope_a_request_needs(
    method: str, path: str, route: object, needed: str
) -> None:
    assert scopes.required_scope(method, path, route) == needed


def test_a_route_declares_its_scope_in_the_api_docs(auth_app: FastAPI) -> None:
    route = SimpleNamespace(**scopes.needs("approve"))

    assert scopes.required_scope("POST", "/api/v1/credits/1/approve", route) == (
        "approve"
    )
    schema = auth_app.openapi()["paths"]["/api/v1/credits/{credit_ref}/approve"]
    assert schema["post"][scopes.ROUTE_KEY] == "approve"


def test_a_read_token_reads_but_does_not_write(
    web: TestClient, session_factory: sessionmaker[Session], clock: FrozenClock
) -> None:
    _, headers = _token(session_factory, clock, scopes=["read"])

    assert web.get("/api/v1/credits", headers=headers).status_code == 200
    refused = web.post("/api/v1/cases", json={}, headers=headers)
    assert refused.status_code == 403
    assert "'write' scope" in refused.json()["detail"]


def test_deciding_an_approval_needs_the_approve_scope(
    web: TestClient, session_factory: sessionmaker[Session], clock: FrozenClock
) -> None:
    _, write_only = _token(
        session_factory, clock, role=Role.TEAM_LEAD, scopes=["read", "write"]
    )
    _, approver = _token(session_factory, clock, role=Role.TEAM_LEAD)
    path = "/api/v1/credits/BC-999999999/approve"

    assert web.post(path, headers=write_only).status_code == 403
    # Past the scope check, the (absent) credit decides the answer.
    assert web.post(path, headers=approver).status_code == 404
    assert (
        web.post(
            "/api/v1/credits/BC-999999999/reject", json={}, headers=write_only
        ).status_code
        == 403
    )


def test_a_role_change_narrows_an_existing_token(
    web: TestClient, session_factory: sessionmaker[Session], clock: FrozenClock
) -> None:
    user_id, headers = _token(session_factory, clock, role=Role.TEAM_LEAD)
    with transaction(session_factory) as session:
        session.get_one(User, user_id).role = Role.AGENT

    response = web.post("/api/v1/credits/BC-999999999/approve", headers=headers)

    assert response.status_code == 403


def test_a_web_session_holds_the_scopes_its_role_allows(
    web: TestClient, session_factory: sessionmaker[Session]
) -> None:
    lead = make_person(session_factory, role=Role.TEAM_LEAD)
    csrf = sign_in(web, lead)["csrf_token"]

    response = web.post(
        "/api/v1/credits/BC-999999999/approve", headers={"X-CSRF-Token": csrf}
    )

    assert response.status_code == 404


def test_an_expired_token_is_refused(
    web: TestClient, session_factory: sessionmaker[Session], clock: FrozenClock
) -> None:
    _, headers = _token(session_factory, clock, days=1)
    assert web.get(TOKENS, headers=headers).status_code == 200

    clock.advance(timedelta(days=1))

    assert web.get(TOKENS, headers=headers).status_code == 401


def test_revoking_a_token_takes_effect_at_once_despite_the_cache(
    web: TestClient, session_factory: sessionmaker[Session], clock: FrozenClock
) -> None:
    user_id, headers = _token(session_factory, clock)
    listed = web.get(TOKENS, headers=headers)  # now cached for a few seconds
    token_id = listed.json()["items"][0]["id"]

    assert web.delete(f"{TOKENS}/{token_id}", headers=headers).status_code == 204

    assert web.get(TOKENS, headers=headers).status_code == 401
    with session_factory() as session:
        entries = audit.entries_for(session, entity_type="user", entity_id=user_id)
    assert [e.action for e in entries] == ["token.issued", "token.revoked"]


def test_only_the_owner_or_an_admin_revokes_a_token(
    web: TestClient, session_factory: sessionmaker[Session], clock: FrozenClock
) -> None:
    _, owner = _token(session_factory, clock)
    _, stranger = _token(session_factory, clock)
    _, weak_admin = _token(
        session_factory, clock, role=Role.ADMIN, scopes=["read", "write"]
    )
    _, admin = _token(session_factory, clock, role=Role.ADMIN)
    token_id = web.get(TOKENS, headers=owner).json()["items"][0]["id"]

    assert web.delete(f"{TOKENS}/{token_id}", headers=stranger).status_code == 404
    assert web.delete(f"{TOKENS}/{token_id}", headers=weak_admin).status_code == 404
    assert web.delete(f"{TOKENS}/{token_id}", headers=admin).status_code == 204
    assert web.get(TOKENS, headers=owner).status_code == 401


def test_issuing_your_own_token_returns_the_secret_once(
    web: TestClient, session_factory: sessionmaker[Session], clock: FrozenClock
) -> None:
    _, headers = _token(session_factory, clock)

    issued = web.post(
        TOKENS,
        json={"name": "reporting", "scopes": ["read"], "expires_in_days": 7},
        headers=headers,
    )

    assert issued.status_code == 201, issued.text
    body = issued.json()
    assert body["token"].startswith(access.TOKEN_PREFIX)
    assert body["scopes"] == ["read"]
    new = {"Authorization": f"Bearer {body['token']}"}
    listed = web.get(TOKENS, headers=new).json()["items"]
    assert {t["name"] for t in listed} == {"cli", "reporting"}
    assert all("token" not in t for t in listed)
    assert web.post(TOKENS, json={"name": "x"}, headers=new).status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scopes": ["approve"]}, "scopes"),
        ({"name": "x", "scopes": ["sudo"]}, "scopes"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x", "expires_in_days": 91}, "expires_in_days"),
        ({"name": "  "}, "name"),
    ],
)
def test_a_token_request_beyond_the_rules_is_a_422(
    web: TestClient,
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    body: dict,
    field: str,
) -> None:
    _, headers = _token(session_factory, clock)

    response = web.post(TOKENS, json=body, headers=headers)

    assert response.status_code == 422
    assert response.json()["field"] == field


def test_the_session_endpoint_needs_a_web_session(
    web: TestClient, session_factory: sessionmaker[Session], clock: FrozenClock
) -> None:
    _, headers = _token(session_factory, clock)

    assert web.get("/api/v1/auth/session", headers=headers).status_code == 404
    assert web.get("/api/v1/auth/session").status_code == 401
