"""Signing in and out, the session cookie, and refusing guessers."""

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.access.models import WebSession
from creditdesk.access.service import digest
from creditdesk.audit import service as audit
from creditdesk.auth import sessions
from creditdesk.clock import FrozenClock
from creditdesk.db import transaction
from creditdesk.users.models import User
from tests.auth.conftest import Person, load_user, sign_in

SIGN_IN = "/api/v1/auth/sign-in"


def _attempt(client: TestClient, username: str, password: str) -> "object":
    return client.post(SIGN_IN, json={"username": username, "password": password})


def _actions(factory: sessionmaker[Session], user_id: int) -> list[str]:
    with factory() as session:
        entries = audit.entries_for(session, entity_type="user", entity_id=user_id)
    return [entry.action for entry in entries]


def test_signing_in_sets_a_guarded_cookie_and_returns_the_csrf_token(
    web: TestClient, person: Person, clock: FrozenClock
) -> None:
    response = _attempt(web, person.username, person.password)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["username"] == person.username
    assert len(body["csrf_token"]) >= 32
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{sessions.COOKIE_NAME}=")
    for flag in ("Secure", "HttpOnly", "SameSite=lax", "Path=/"):
        assert flag.lower() in cookie.lower()
    assert body["expires_at"].startswith(
        (clock.now + timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M")
    )


def test_only_a_digest_of_the_cookie_secret_is_stored(
    web: TestClient, person: Person, session_factory: sessionmaker[Session]
) -> None:
    sign_in(web, person)
    secret = web.cookies[sessions.COOKIE_NAME]

    with session_factory() as session:
        row = session.query(WebSession).filter_by(token_hash=digest(secret)).one()
    assert row.user_id == person.id
    assert secret not in (row.token_hash, row.csrf_secret)


def test_the_session_endpoint_shows_the_signed_in_user(
    web: TestClient, person: Person
) -> None:
    signed = sign_in(web, person)

    response = web.get("/api/v1/auth/session")

    assert response.status_code == 200
    assert response.json()["user"]["id"] == person.id
    assert response.json()["csrf_token"] == signed["csrf_token"]


def test_signing_out_ends_the_session_and_clears_the_cookie(
    web: TestClient, person: Person, session_factory: sessionmaker[Session]
) -> None:
    signed = sign_in(web, person)
    secret = web.cookies[sessions.COOKIE_NAME]

    response = web.post(
        "/api/v1/auth/sign-out", headers={"X-CSRF-Token": signed["csrf_token"]}
    )

    assert response.status_code == 204
    assert sessions.COOKIE_NAME not in web.cookies
    web.cookies.set(sessions.COOKIE_NAME, secret)
    assert web.get("/api/v1/auth/session").status_code == 401
    assert _actions(session_factory, person.id)[-2:] == [
        "user.signed_in",
        "user.signed_out",
    ]


def test_signing_out_without_a_session_just_clears_the_cookie(web: TestClient) -> None:
    web.cookies.set(sessions.COOKIE_NAME, "no-such-session")

    assert web.post("/api/v1/auth/sign-out").status_code == 204


def test_an_unknown_user_and_a_wrong_password_get_the_same_answer(
    web: TestClient, person: Person
) -> None:
    unknown = _attempt(web, "nobody-" + person.username, person.password)
    wrong = _attempt(web, person.username, "not the password at all")

    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() | {"instance": None} == wrong.json() | {"instance": None}
    assert sessions.COOKIE_NAME not in web.cookies


def test_sign_in_audits_success_and_failure_never_the_password(
    web: TestClient, person: Person, session_factory: sessionmaker[Session]
) -> None:
    _attempt(web, person.username, "a wrong guess here")
    sign_in(web, person)

    with session_factory() as session:
        entries = audit.entries_for(session, entity_type="user", entity_id=person.id)
    failed, signed_in = entries[-2:]
    assert failed.action == "user.sign_in_failed"
    assert json.loads(failed.changes)["failed_sign_ins"] == [0, 1]
    assert signed_in.action == "user.signed_in"
    assert signed_in.actor_id == person.id
    assert not any("wrong guess" in e.changes for e in entries)
    assert not any(person.password in e.changes for e in entries)


def test_a_deactivated_user_cannot_sign_in(
    web: TestClient, person: Person, session_factory: sessionmaker[Session]
) -> None:
    with transaction(session_factory) as session:
        session.get_one(User, person.id).is_active = False

    assert _attempt(web, person.username, person.password).status_code == 401


def test_failures_slow_down_then_lock_and_the_lock_expires(
    web: TestClient,
    person: Person,
    clock: FrozenClock,
    session_factory: sessionmaker[Session],
) -> None:
    for _ in range(3):
        assert _attempt(web, person.username, "wrong password 1").status_code == 401

    # Refused without checking the password, even the right one.
    throttled = _attempt(web, person.username, person.password)
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "1"

    # Each further failure doubles the wait.
    waits = []
    for _ in range(6):
        clock.advance(timedelta(seconds=int(throttled.headers["retry-after"])))
        assert _attempt(web, person.username, "wrong password 2").status_code == 401
        throttled = _attempt(web, person.username, "wrong password 3")
        waits.append(int(throttled.headers["retry-after"]))
    assert waits == [2, 4, 8, 16, 32, 64]

    clock.advance(timedelta(seconds=64))
    assert _attempt(web, person.username, "wrong password 4").status_code == 401
    locked = _attempt(web, person.username, person.password)
    assert locked.status_code == 423
    assert locked.headers["retry-after"] == str(15 * 60)
    assert "locked" in locked.json()["detail"]
    assert "user.locked" in _actions(session_factory, person.id)

    clock.advance(timedelta(minutes=15))
    sign_in(web, person)
    user = load_user(session_factory, person.id)
    assert (user.failed_sign_ins, user.locked_until) == (0, None)


def test_a_success_resets_the_count(
    web: TestClient, person: Person, session_factory: sessionmaker[Session]
) -> None:
    for _ in range(2):
        _attempt(web, person.username, "wrong password 5")

    sign_in(web, person)
    _attempt(web, person.username, "wrong password 6")

    assert load_user(session_factory, person.id).failed_sign_ins == 1


@pytest.mark.parametrize(
    "body",
    [{"username": "someone"}, {"username": "someone", "password": "x" * 1025}],
)
def test_a_malformed_sign_in_is_a_422(web: TestClient, body: dict) -> None:
    assert web.post(SIGN_IN, json=body).status_code == 422
