"""Users and teams on pages: adding and changing users with the errors next
to their fields, the API's rules (roles, reporting cycles), teams."""

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.audit.models import AuditEntry
from creditdesk.users.models import Role, Team, User
from tests.web.conftest import ClientFor
from tests.web.support import Person, csrf_of, make_person


def _name(prefix: str = "user") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}"


def _new_user(browser, **fields: str):
    page = browser.get("/admin/users/new").text
    form = {
        "csrf_token": csrf_of(page),
        "username": _name(),
        "display_name": "Nia Okafor",
        "email": "",
        "role": "agent",
        "team": "",
        "manager": "",
        **fields,
    }
    return browser.post("/admin/users/new", data=form, follow_redirects=False)


def _edit(browser, user_id: int, **fields: str):
    page = browser.get(f"/admin/users/{user_id}").text
    form = {
        "csrf_token": csrf_of(page),
        "display_name": "Nia Okafor",
        "email": "",
        "role": "agent",
        "team": "",
        "manager": "",
        "is_active": "on",
        **fields,
    }
    if not form["is_active"]:
        del form["is_active"]
    return browser.post(f"/admin/users/{user_id}", data=form, follow_redirects=False)


def _user(factory: sessionmaker[Session], username: str) -> User | None:
    with factory() as session:
        return session.scalars(
            sa.select(User).where(User.username == username)
        ).one_or_none()


def test_an_admin_adds_a_user_in_a_new_team_under_a_manager(
    client_for: ClientFor, admin: Person, session_factory: sessionmaker[Session]
) -> None:
    browser = client_for(admin)
    boss = make_person(session_factory, role=Role.TEAM_LEAD)
    username, team = _name(), _name("Team")

    answer = _new_user(
        browser,
        username=username,
        email="nia@example.com",
        role="junior_agent",
        team=team,
        manager=boss.username,
    )

    assert answer.status_code == 303, answer.text
    with session_factory() as session:
        made = session.scalars(sa.select(User).where(User.username == username)).one()
        entry = session.scalars(
            sa.select(AuditEntry).where(
                AuditEntry.action == "user.created",
                AuditEntry.entity_id == str(made.id),
            )
        ).one()
        assert (made.role, made.team.name, made.manager_id) == (
            Role.JUNIOR_AGENT,
            team,
            boss.id,
        )
    assert (entry.channel, entry.actor_id) == ("web", admin.id)
    assert answer.headers["location"] == f"/admin/users/{made.id}"
    page = browser.get(answer.headers["location"]).text
    assert f"User {username} added." in page


def test_a_refused_user_shows_each_error_next_to_its_field(
    client_for: ClientFor, admin: Person, session_factory: sessionmaker[Session]
) -> None:
    browser = client_for(admin)

    bad_name = _new_user(browser, username="No Spaces")
    assert bad_name.status_code == 422
    assert (
        'id="username" name="username" type="text" value="No Spaces"' in bad_name.text
    )
    assert 'aria-describedby="username-hint username-error"' in bad_name.text
    assert 'id="username-error">a username is 3 to 64 characters' in bad_name.text

    ghost = _name("ghost")
    username = _name()
    no_boss = _new_user(browser, username=username, manager=ghost)
    assert no_boss.status_code == 422
    assert f"there is no user called &#39;{ghost}&#39;" in no_boss.text
    assert 'id="manager-error"' in no_boss.text
    assert _user(session_factory, username) is None

    bad_mail = _new_user(browser, email="nia at example.com")
    assert bad_mail.status_code == 422
    assert 'id="email-error"' in bad_mail.text

    bad_role = _new_user(browser, role="overlord")
    assert bad_role.status_code == 422
    assert 'id="role-error"' in bad_role.text

    taken = _new_user(browser, username=admin.username)
    assert taken.status_code == 409
    assert 'id="username-error">a user called' in taken.text


def test_the_role_list_is_the_role_enum(client_for: ClientFor, admin: Person) -> None:
    page = client_for(admin).get("/admin/users/new").text
    for role in Role:
        assert f'<option value="{role.value}"' in page


def test_an_admin_changes_role_team_manager_and_activity(
    client_for: ClientFor, admin: Person, session_factory: sessionmaker[Session]
) -> None:
    browser = client_for(admin)
    person = make_person(session_factory)
    boss = make_person(session_factory, role=Role.MANAGER)
    team = _name("Team")

    answer = _edit(
        browser,
        person.id,
        role="team_lead",
        team=team,
        manager=boss.username,
        is_active="",
    )

    assert answer.status_code == 303, answer.text
    changed = _user(session_factory, person.username)
    assert changed is not None
    assert (changed.role, changed.manager_id, changed.is_active) == (
        Role.TEAM_LEAD,
        boss.id,
        False,
    )
    assert "saved" in browser.get(answer.headers["location"]).text


def test_a_reporting_cycle_is_refused_next_to_the_manager(
    client_for: ClientFor, admin: Person, session_factory: sessionmaker[Session]
) -> None:
    browser = client_for(admin)
    boss = make_person(session_factory, role=Role.MANAGER)
    report = make_person(session_factory, role=Role.TEAM_LEAD, manager=boss.id)

    answer = _edit(browser, boss.id, role="manager", manager=report.username)

    assert answer.status_code == 422
    assert 'id="manager-error"' in answer.text
    assert "reporting cycle" in answer.text
    assert 'aria-invalid="true"' in answer.text
    assert _user(session_factory, boss.username).manager_id is None


def test_an_admin_cannot_demote_themselves(
    client_for: ClientFor, admin: Person, session_factory: sessionmaker[Session]
) -> None:
    answer = _edit(client_for(admin), admin.id, role="agent")

    assert answer.status_code == 422
    assert "you cannot take away your own admin role" in answer.text
    assert _user(session_factory, admin.username).role is Role.ADMIN


def test_users_are_found_by_name_and_role(
    client_for: ClientFor, admin: Person, session_factory: sessionmaker[Session]
) -> None:
    browser = client_for(admin)
    finance = make_person(session_factory, role=Role.FINANCE)
    agent = make_person(session_factory)

    by_name = browser.get("/admin/users", params={"q": finance.username[-8:]}).text
    assert finance.username in by_name
    assert agent.username not in by_name

    by_role = browser.get("/admin/users", params={"role": "finance"}).text
    assert finance.username in by_role
    assert agent.username not in by_role


def test_teams_are_listed_and_added_and_a_taken_name_is_refused(
    client_for: ClientFor, admin: Person, session_factory: sessionmaker[Session]
) -> None:
    browser = client_for(admin)
    name = _name("Team")
    page = browser.get("/admin/teams").text

    added = browser.post(
        "/admin/teams",
        data={"csrf_token": csrf_of(page), "name": name},
        follow_redirects=False,
    )
    assert added.status_code == 303
    assert name in browser.get("/admin/teams").text

    again = browser.post(
        "/admin/teams", data={"csrf_token": csrf_of(page), "name": name}
    )
    assert again.status_code == 409
    assert 'id="name-error">a team called' in again.text
    with session_factory() as session:
        count = session.scalar(
            sa.select(sa.func.count()).select_from(Team).where(Team.name == name)
        )
    assert count == 1
