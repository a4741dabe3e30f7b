"""Helpers for page tests: people with passwords, signing in, reading forms."""

import functools
import re
from dataclasses import dataclass

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.auth import passwords
from creditdesk.db import transaction
from creditdesk.users.models import Role, Team, User
from tests.factories import (
    make_account,
    make_case,
    make_contract,
    make_team,
    make_user,
)

PASSWORD = "correct horse battery staple"


@functools.cache
def _password_hash() -> str:
    # argon2 is slow on purpose; one hash serves every test user.
    return passwords.hash_password(PASSWORD)


def _give_password(user: User) -> None:
    user.password_hash = _password_hash()
    user.password_changed_at = user.created_at


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_IDEMPOTENCY = re.compile(r'name="idempotency_key" value="([^"]+)"')


@dataclass(frozen=True)
class Person:
    id: int
    username: str
    display_name: str
    role: Role
    password: str = PASSWORD


def make_person(
    factory: sessionmaker[Session],
    *,
    role: Role = Role.AGENT,
    team: Team | None = None,
    manager: User | int | None = None,
) -> Person:
    """A user who can sign in with PASSWORD."""
    with transaction(factory) as session:
        boss = session.get(User, manager) if isinstance(manager, int) else manager
        user = make_user(session, role=role, team=team, manager=boss)
        _give_password(user)
        return Person(user.id, user.username, user.display_name, user.role)


def person_for(factory: sessionmaker[Session], user: User) -> Person:
    """Give an existing user (from a factory's Org) the test password."""
    with transaction(factory) as session:
        row = session.get_one(User, user.id)
        if row.password_hash is None:
            _give_password(row)
        return Person(row.id, row.username, row.display_name, row.role)


def sign_in(client: TestClient, who: Person) -> Response:
    """Sign ``who`` in through the sign-in form; the client keeps the cookie."""
    response = client.post(
        "/sign-in",
        data={"username": who.username, "password": who.password, "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return response


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = _CSRF.search(html)
    assert found, "the page has no form with a csrf_token"
    return found.group(1)


def idempotency_key_of(html: str) -> str:
    found = _IDEMPOTENCY.search(html)
    assert found, "the page has no form with an idempotency_key"
    return found.group(1)


@dataclass(frozen=True)
class Desk:
    """A team (agent and junior under a lead under a manager), an agent of
    another team, and on one GBP broadband account the agent's cases
    "Overcharged by £10" (£10 disputed) and "Broadband outage" (nothing
    disputed, so larger credits go to approval) and one of the junior's."""

    agent: Person
    junior: Person
    lead: Person
    manager: Person
    outsider: Person
    case_id: int
    outage_case_id: int
    junior_case_id: int
    account_number: str


def make_desk(factory: sessionmaker[Session]) -> Desk:
    with transaction(factory) as session:
        team = make_team(session)
        manager = make_user(session, role=Role.MANAGER, team=team)
        lead = make_user(session, role=Role.TEAM_LEAD, team=team, manager=manager)
        agent = make_user(session, role=Role.AGENT, team=team, manager=lead)
        junior = make_user(session, role=Role.JUNIOR_AGENT, team=team, manager=lead)
        outsider = make_user(session, role=Role.AGENT, team=make_team(session))
        people = [agent, junior, lead, manager, outsider]
        for user in people:
            _give_password(user)
        account = make_account(session)
        make_contract(session, account=account, cap_minor=30_000)
        case = make_case(
            session,
            account=account,
            owner=agent,
            subject="Overcharged by £10",
            disputed_minor=1000,
        )
        outage = make_case(
            session, account=account, owner=agent, subject="Broadband outage"
        )
        junior_case = make_case(
            session, account=account, owner=junior, subject="Roaming charges disputed"
        )
        persons = [Person(u.id, u.username, u.display_name, u.role) for u in people]
        return Desk(*persons, case.id, outage.id, junior_case.id, account.number)
