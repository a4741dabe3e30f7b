"""The console's shell: signing in and out, redirects, CSRF, error pages."""

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.audit.models import AuditEntry
from creditdesk.clock import FrozenClock, system_clock
from creditdesk.users.models import Role
from tests.factories import Org
from tests.web.conftest import ClientFor
from tests.web.support import csrf_of, make_person, person_for


def test_a_signed_out_browser_is_sent_to_sign_in_and_back(
    client_for: ClientFor, session_factory: sessionmaker[Session]
) -> None:
    browser = client_for(None)

    response = browser.get("/?view=mine", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=/%3Fview%3Dmine"

    who = make_person(session_factory)
    form = {"username": who.username, "password": who.password, "next": "/"}
    signed = browser.post("/sign-in", data=form, follow_redirects=False)
    assert signed.status_code == 303
    assert signed.headers["location"] == "/"
    home = browser.get("/")
    assert home.status_code == 200
    assert who.display_name in home.text


def test_sign_in_goes_to_next_but_never_off_the_site(
    client_for: ClientFor, session_factory: sessionmaker[Session]
) -> None:
    who = make_person(session_factory)
    for asked, landed in [
        ("/cases", "/cases"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
    ]:
        browser = client_for(None)
        form = {"username": who.username, "password": who.password, "next": asked}
        response = browser.post("/sign-in", data=form, follow_redirects=False)
        assert response.headers["location"] == landed, asked


def test_wrong_credentials_are_shown_on_the_form_not_as_json(
    client_for: ClientFor, session_factory: sessionmaker[Session]
) -> None:
    who = make_person(session_factory)
    browser = client_for(None)

    response = browser.post(
        "/sign-in", data={"username": who.username, "password": "not the password"}
    )

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert "The username or password is not correct" in response.text.replace(
        "the username", "The username"
    )
    assert 'aria-describedby="sign-in-error"' in response.text
    assert f'value="{who.username}"' in response.text
    assert "creditdesk_session" not in response.cookies


def test_repeated_failures_lock_the_user_and_the_form_says_so(
    client_for: ClientFor, session_factory: sessionmaker[Session], app: FastAPI
) -> None:
    # Time stands still, so a slow machine cannot outlast the backoff between
    # two attempts and turn an expected refusal into a fresh try.
    real_clock = app.state.clock
    app.state.clock = FrozenClock(system_clock())
    try:
        refused = _fail_twelve_times_then_sign_in(client_for, session_factory)
    finally:
        app.state.clock = real_clock

    assert refused.status_code in (423, 429)
    assert "too many failed sign-ins" in refused.text
    assert int(refused.headers["retry-after"]) >= 1


def _fail_twelve_times_then_sign_in(
    client_for: ClientFor, session_factory: sessionmaker[Session]
) -> Response:
    who = make_person(session_factory)
    browser = client_for(None)
    statuses = []
    for _ in range(12):
        wrong = {"username": who.username, "password": "wrong password!!"}
        statuses.append(browser.post("/sign-in", data=wrong).status_code)

    assert statuses[0] == 401
    assert statuses[-1] in (423, 429)
    right = {"username": who.username, "password": who.password}
    return browser.post("/sign-in", data=right, follow_redirects=False)


def test_a_sign_in_posted_from_another_site_is_refused(
    client_for: ClientFor, session_factory: sessionmaker[Session]
) -> None:
    who = make_person(session_factory)
    browser = client_for(None)

    response = browser.post(
        "/sign-in",
        data={"username": who.username, "password": who.password},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )

    assert response.status_code == 403
    assert "creditdesk_session" not in response.cookies


def test_sign_out_needs_the_csrf_token_and_is_audited_on_the_web_channel(
    client_for: ClientFor, session_factory: sessionmaker[Session]
) -> None:
    who = make_person(session_factory)
    browser = client_for(who)
    token = csrf_of(browser.get("/").text)

    refused = browser.post("/sign-out", data={}, follow_redirects=False)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
    assert "CSRF" in refused.text
    assert browser.get("/").status_code == 200

    done = browser.post("/sign-out", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == "/sign-in"
    landing = browser.get("/sign-in")
    assert "You are signed out." in landing.text
    assert browser.get("/", follow_redirects=False).status_code == 303

    with session_factory() as session:
        channel = session.scalar(
            sa.select(AuditEntry.channel)
            .where(AuditEntry.action == "user.signed_out")
            .where(AuditEntry.entity_id == str(who.id))
        )
    assert channel == "web"


def test_htmx_requests_carry_the_token_in_a_header(
    client_for: ClientFor, session_factory: sessionmaker[Session]
) -> None:
    who = make_person(session_factory)
    browser = client_for(who)
    token = csrf_of(browser.get("/").text)

    wrong = browser.post(
        "/sign-out",
        headers={"HX-Request": "true", "X-CSRF-Token": "not-it"},
        follow_redirects=False,
    )
    assert wrong.status_code == 403

    right = browser.post(
        "/sign-out",
        headers={"HX-Request": "true", "X-CSRF-Token": token},
        follow_redirects=False,
    )
    assert right.status_code == 303


def test_an_htmx_request_without_a_session_is_told_to_load_sign_in(
    client_for: ClientFor,
) -> None:
    response = client_for(None).get(
        "/", headers={"HX-Request": "true"}, follow_redirects=False
    )
    assert response.status_code == 200
    assert response.headers["hx-redirect"] == "/sign-in?next=/"


def test_a_forged_session_cookie_is_sent_to_sign_in(client_for: ClientFor) -> None:
    browser = client_for(None)
    browser.cookies.set("creditdesk_session", "forged", domain="testserver.local")

    response = browser.get("/", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"].startswith("/sign-in")


def test_unknown_pages_are_html_404s_and_the_api_stays_json(
    client_for: ClientFor, client: TestClient, org: Org
) -> None:
    page = client_for(None).get("/no-such-page")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Not found" in page.text

    api = client.get("/api/v1/credits/999999999", headers=org.auth("agent"))
    assert api.status_code == 404
    assert api.headers["content-type"] == "application/problem+json"
    assert client.get("/api/v1/nowhere").headers["content-type"] == (
        "application/problem+json"
    )


def test_pages_carry_a_self_only_content_security_policy(
    client_for: ClientFor,
) -> None:
    response = client_for(None).get("/sign-in")

    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "<script>" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in policy


def test_the_shell_is_accessible_by_construction(client_for: ClientFor) -> None:
    html = client_for(None).get("/sign-in").text

    assert '<a class="skip-link" href="#main">' in html
    assert '<main id="main"' in html
    assert '<label for="username">' in html
    assert 'id="username"' in html
    assert '<label for="password">' in html
    assert 'lang="en-GB"' in html


def test_static_files_and_vendored_htmx_are_served(client: TestClient) -> None:
    htmx = client.get("/static/vendor/htmx.min.js")
    assert htmx.status_code == 200
    assert "htmx" in htmx.text[:200]
    assert client.get("/static/vendor/htmx.LICENSE").status_code == 200
    assert client.get("/static/app.css").status_code == 200
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/swagger/swagger-ui.css").status_code == 200


def test_the_nav_shows_only_what_the_role_may_use(
    client_for: ClientFor, session_factory: sessionmaker[Session], org: Org
) -> None:
    def nav_of(user_role: Role) -> str:
        who = make_person(session_factory, role=user_role)
        html = client_for(who).get("/").text
        return html.split('<nav aria-label="Main">')[1].split("</nav>")[0]

    agent = nav_of(Role.AGENT)
    assert 'href="/cases"' in agent
    for hidden in ("/approvals", "/ops", "/admin", "/audit", "/reports"):
        assert f'href="{hidden}"' not in agent

    lead = nav_of(Role.TEAM_LEAD)
    assert 'href="/approvals"' in lead
    assert 'href="/admin"' not in lead

    finance = nav_of(Role.FINANCE)
    assert 'href="/approvals"' in finance
    assert 'href="/ops"' in finance

    admin = nav_of(Role.ADMIN)
    assert 'href="/admin"' in admin
    assert 'href="/audit"' in admin
    assert 'href="/approvals"' not in admin

    assert 'href="/audit"' in nav_of(Role.AUDITOR)
    assert person_for(session_factory, org.agent).role is Role.AGENT
