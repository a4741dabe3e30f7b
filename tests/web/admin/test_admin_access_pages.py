"""Sharing rules and field permissions on pages, and who may use the area."""

import re

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.access.models import SharingRule
from creditdesk.audit.models import AuditEntry
from creditdesk.db import transaction
from creditdesk.users.models import Role, Team, User
from tests.api_helpers import raise_credit
from tests.factories import make_team, make_token
from tests.web.conftest import ClientFor
from tests.web.support import Desk, Person, csrf_of, make_person

PAGES = [
    "/admin",
    "/admin/policy",
    "/admin/policy/edit",
    "/admin/policy/1",
    "/admin/users",
    "/admin/users/new",
    "/admin/users/1",
    "/admin/teams",
    "/admin/sharing",
    "/admin/fields",
]
FORMS = [
    "/admin/policy/edit",
    "/admin/users/new",
    "/admin/users/1",
    "/admin/teams",
    "/admin/sharing",
    "/admin/sharing/1/remove",
    "/admin/fields",
]


def _rules(factory: sessionmaker[Session], team_id: int) -> list[SharingRule]:
    with factory() as session:
        return list(
            session.scalars(
                sa.select(SharingRule).where(SharingRule.owner == str(team_id))
            )
        )


def test_an_admin_adds_and_removes_a_sharing_rule(
    client_for: ClientFor, admin: Person, session_factory: sessionmaker[Session]
) -> None:
    browser = client_for(admin)
    with transaction(session_factory) as session:
        owners = make_team(session)
        owner_id, owner_name = owners.id, owners.name
    page = browser.get("/admin/sharing").text
    assert f'<option value="team:{owner_id}">{owner_name}</option>' in page
    form = {
        "csrf_token": csrf_of(page),
        "grantee": "role:auditor",
        "owner": f"team:{owner_id}",
        "access": "read",
    }

    added = browser.post("/admin/sharing", data=form, follow_redirects=False)

    assert added.status_code == 303, added.text
    [rule] = _rules(session_factory, owner_id)
    listing = browser.get("/admin/sharing").text
    assert f"Role Auditor may read the credits of Team {owner_name}" in listing

    twice = browser.post("/admin/sharing", data=form)
    assert twice.status_code == 409
    assert "already joins these groups" in twice.text

    removed = browser.post(
        f"/admin/sharing/{rule.id}/remove",
        data={"csrf_token": form["csrf_token"]},
        follow_redirects=False,
    )
    assert removed.status_code == 303
    assert _rules(session_factory, owner_id) == []
    with session_factory() as session:
        actions = list(
            session.scalars(
                sa.select(AuditEntry.channel).where(
                    AuditEntry.entity_type == "sharing_rule",
                    AuditEntry.entity_id == str(rule.id),
                )
            )
        )
    assert actions == ["web", "web"]


def test_a_sharing_rule_without_groups_is_refused_next_to_the_fields(
    client_for: ClientFor, admin: Person
) -> None:
    browser = client_for(admin)
    page = browser.get("/admin/sharing").text

    answer = browser.post(
        "/admin/sharing",
        data={
            "csrf_token": csrf_of(page),
            "grantee": "",
            "owner": "team:999999",
            "access": "read",
        },
    )

    assert answer.status_code == 422
    assert 'id="grantee-error">choose a team or a role' in answer.text
    assert 'aria-describedby="grantee-hint grantee-error"' in answer.text


def _credit_page(app: FastAPI, factory: sessionmaker[Session], desk: Desk) -> str:
    with transaction(factory) as session:
        token = make_token(session, user=session.get_one(User, desk.agent.id))
    with TestClient(app) as api:
        credit = raise_credit(
            api, {"Authorization": f"Bearer {token}"}, desk.case_id, "10.00"
        )
    return f"/credits/{credit['id']}"


def _set_level(browser: TestClient, role: str, field: str, level: str):
    page = browser.get("/admin/fields", params={"role": role, "field": field}).text
    assert f'<option value="{field}" selected>' in page
    return browser.post(
        "/admin/fields",
        data={
            "csrf_token": csrf_of(page),
            "role": role,
            "field": field,
            "level": level,
        },
        follow_redirects=False,
    )


def test_a_hidden_field_leaves_the_credit_page_until_it_is_reset(
    client_for: ClientFor,
    admin: Person,
    desk: Desk,
    app: FastAPI,
    session_factory: sessionmaker[Session],
) -> None:
    browser = client_for(admin)
    credit = _credit_page(app, session_factory, desk)
    agent = client_for(desk.agent)
    assert "GBP 10.00" in agent.get(credit).text

    hidden = _set_level(browser, "agent", "credit.amount", "hidden")
    try:
        assert hidden.status_code == 303, hidden.text
        page = agent.get(credit)
        assert page.status_code == 200
        assert "10.00" not in page.text
        assert "<dt>Amount</dt>" not in page.text
        matrix = browser.get("/admin/fields").text
        assert "Agent, Credit amount: hidden, set here (default edit)" in matrix
    finally:
        reset = _set_level(browser, "agent", "credit.amount", "default")
        assert reset.status_code == 303

    assert "GBP 10.00" in agent.get(credit).text
    assert (
        "None: every role has the built-in defaults."
        in browser.get("/admin/fields").text
    )


def test_an_unknown_level_or_field_is_refused_next_to_it(
    client_for: ClientFor, admin: Person
) -> None:
    browser = client_for(admin)

    no_level = _set_level(browser, "agent", "credit.amount", "")
    assert no_level.status_code == 422
    assert 'id="level-error"' in no_level.text

    page = browser.get("/admin/fields").text
    no_field = browser.post(
        "/admin/fields",
        data={
            "csrf_token": csrf_of(page),
            "role": "agent",
            "field": "credit.colour",
            "level": "read",
        },
    )
    assert no_field.status_code == 422
    assert 'id="field-error">unknown credit field' in no_field.text


@pytest.mark.parametrize(
    "role",
    [
        Role.AGENT,
        Role.JUNIOR_AGENT,
        Role.TEAM_LEAD,
        Role.MANAGER,
        Role.FINANCE,
        Role.AUDITOR,
    ],
)
def test_everyone_but_an_admin_gets_403(
    client_for: ClientFor, session_factory: sessionmaker[Session], role: Role
) -> None:
    browser = client_for(make_person(session_factory, role=role))
    token = csrf_of(browser.get("/").text)
    assert 'href="/admin"' not in browser.get("/").text

    for path in PAGES:
        assert browser.get(path).status_code == 403, path
    for path in FORMS:
        answer = browser.post(path, data={"csrf_token": token, "name": "X"})
        assert answer.status_code == 403, path
        assert "You may not do that" in answer.text


def test_a_form_without_its_csrf_token_is_403(
    client_for: ClientFor, admin: Person, session_factory: sessionmaker[Session]
) -> None:
    browser = client_for(admin)
    name = f"Team {admin.username}"

    for path in FORMS:
        answer = browser.post(path, data={"name": name, "grantee": "role:agent"})
        assert answer.status_code == 403, path

    with session_factory() as session:
        teams = session.scalar(
            sa.select(sa.func.count()).select_from(Team).where(Team.name == name)
        )
    assert teams == 0


def test_signed_out_the_area_sends_to_sign_in(client_for: ClientFor) -> None:
    answer = client_for(None).get("/admin/policy", follow_redirects=False)

    assert answer.status_code == 303
    assert re.search(r"/sign-in\?next=/admin/policy$", answer.headers["location"])


def test_the_area_lists_its_sections_and_unknown_records_are_404(
    client_for: ClientFor, admin: Person
) -> None:
    browser = client_for(admin)

    home = browser.get("/")
    assert '<a href="/admin">Admin</a>' in home.text
    area = browser.get("/admin").text
    for href in ("/admin/policy", "/admin/users", "/admin/sharing", "/admin/fields"):
        assert f'<a href="{href}"' in area
    assert browser.get("/admin/policy/999999").status_code == 404
    assert browser.get("/admin/users/999999").status_code == 404
