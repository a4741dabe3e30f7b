"""Session expiry and CSRF protection for cookie-authenticated requests."""

from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.access.models import WebSession
from creditdesk.access.service import digest
from creditdesk.audit import service as audit
from creditdesk.auth import sessions
from creditdesk.clock import FrozenClock
from creditdesk.users.models import Role
from tests.auth.conftest import Person, make_person, sign_in
from tests.factories import Org, make_customer

SESSION = "/api/v1/auth/session"


def _last_seen(web: TestClient, factory: sessionmaker[Session]) -> datetime:
    secret = web.cookies[sessions.COOKIE_NAME]
    with factory() as session:
        row = session.query(WebSession).filter_by(token_hash=digest(secret)).one()
    return row.last_seen_at


def test_a_session_idles_out_after_30_minutes_without_requests(
    web: TestClient, person: Person, clock: FrozenClock
) -> None:
    sign_in(web, person)

    clock.advance(timedelta(minutes=29, seconds=59))
    assert web.get(SESSION).status_code == 200

    clock.advance(timedelta(minutes=30))
    response = web.get(SESSION)
    assert response.status_code == 401
    assert "timed out" in response.json()["detail"]


def test_activity_keeps_a_session_alive_until_its_absolute_expiry(
    web: TestClient, person: Person, clock: FrozenClock
) -> None:
    sign_in(web, person)

    for _ in range(12 * 3 - 1):
        clock.advance(timedelta(minutes=20))
        assert web.get(SESSION).status_code == 200

    clock.advance(timedelta(minutes=20))
    response = web.get(SESSION)
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_last_seen_is_written_at_most_once_a_minute(
    web: TestClient,
    person: Person,
    clock: FrozenClock,
    session_factory: sessionmaker[Session],
) -> None:
    sign_in(web, person)
    signed_in_at = clock.now

    clock.advance(timedelta(seconds=59))
    web.get(SESSION)
    assert _last_seen(web, session_factory) == signed_in_at

    clock.advance(timedelta(seconds=1))
    web.get(SESSION)
    assert _last_seen(web, session_factory) == clock.now


def _cookie_user(
    web: TestClient, factory: sessionmaker[Session], role: Role = Role.AGENT
) -> tuple[Person, str]:
    who = make_person(factory, role=role)
    return who, sign_in(web, who)["csrf_token"]


def test_a_change_with_the_cookie_needs_the_csrf_token(
    web: TestClient, session_factory: sessionmaker[Session]
) -> None:
    _who, csrf = _cookie_user(web, session_factory)
    body = {"name": "laptop", "scopes": ["read"]}

    missing = web.post("/api/v1/tokens", json=body)
    wrong = web.post("/api/v1/tokens", json=body, headers={"X-CSRF-Token": "x" + csrf})
    right = web.post("/api/v1/tokens", json=body, headers={"X-CSRF-Token": csrf})

    assert missing.status_code == wrong.status_code == 403
    assert "CSRF" in missing.json()["detail"]
    assert right.status_code == 201, right.text


def test_a_form_post_may_carry_the_csrf_token_as_a_field(
    web: TestClient, session_factory: sessionmaker[Session]
) -> None:
    _who, csrf = _cookie_user(web, session_factory)

    # The form is not a valid token request, but it gets past the CSRF check
    # to the body validation.
    response = web.post("/api/v1/tokens", data={"csrf_token": csrf})
    assert response.status_code == 422

    refused = web.post("/api/v1/tokens", data={"csrf_token": "wrong"})
    assert refused.status_code == 403


def test_reads_need_no_csrf_token(
    web: TestClient, session_factory: sessionmaker[Session]
) -> None:
    _cookie_user(web, session_factory)

    assert web.get("/api/v1/tokens").status_code == 200


def test_a_bearer_request_needs_no_csrf_token(
    web: TestClient, session_factory: sessionmaker[Session], org: Org
) -> None:
    # Even with a session cookie in the jar, the bearer header decides.
    _cookie_user(web, session_factory)
    customer = make_customer(session_factory, owner=org.agent)

    response = web.post(
        "/api/v1/cases",
        json={
            "account_id": customer.account.id,
            "subject": "Charged twice",
            "type": "billing_dispute",
        },
        headers=org.auth("agent"),
    )

    assert response.status_code == 201, response.text


def test_a_token_issued_from_a_session_is_audited_on_the_web_channel(
    web: TestClient, session_factory: sessionmaker[Session]
) -> None:
    who, csrf = _cookie_user(web, session_factory)

    web.post("/api/v1/tokens", json={"name": "x"}, headers={"X-CSRF-Token": csrf})

    assert web.get("/api/v1/tokens").json()["items"][0]["scopes"] == ["read", "write"]
    with session_factory() as session:
        entry = audit.entries_for(session, entity_type="user", entity_id=who.id)[-1]
    assert (entry.action, entry.channel, entry.actor_id) == (
        "token.issued",
        "web",
        who.id,
    )
