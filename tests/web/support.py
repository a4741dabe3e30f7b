"""Helpers for page tests: people with passwords, signing in, reading forms."""

import re
from dataclasses import dataclass

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.auth import passwords
from creditdesk.db import transaction
from creditdesk.users.models import Role, Team, User
from tests.factories import TEST_ACTOR, make_user

PASSWORD = "correct horse battery staple"

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
        passwords.set_password(
            session, user=user, password=PASSWORD, actor=TEST_ACTOR, now=user.created_at
        )
        return Person(user.id, user.username, user.display_name, user.role)


def person_for(factory: sessionmaker[Session], user: User) -> Person:
    """Give an existing user (from a factory's Org) the test password."""
    with transaction(factory) as session:
        row = session.get_one(User, user.id)
        if row.password_hash is None:
            passwords.set_password(
                session,
                user=row,
                password=PASSWORD,
                actor=TEST_ACTOR,
                now=row.created_at,
            )
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
