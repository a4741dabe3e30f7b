"""An app on a frozen clock, served over https so Secure cookies travel."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.app import create_app
from creditdesk.auth import passwords
from creditdesk.clock import FrozenClock
from creditdesk.config import Settings
from creditdesk.db import transaction
from creditdesk.users.models import Role, User
from tests.factories import TEST_ACTOR, make_user

PASSWORD = "correct horse battery staple"


@dataclass
class Person:
    id: int
    username: str
    password: str = PASSWORD


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def auth_app(settings: Settings, engine: Engine, clock: FrozenClock) -> FastAPI:
    return create_app(settings, engine=engine, clock=clock)


@pytest.fixture
def web(auth_app: FastAPI) -> Iterator[TestClient]:
    """A browser-like client: keeps cookies, speaks https."""
    with TestClient(auth_app, base_url="https://testserver") as client:
        yield client


def make_person(
    factory: sessionmaker[Session], *, role: Role = Role.AGENT, password: str = PASSWORD
) -> Person:
    with transaction(factory) as session:
        user = make_user(session, role=role)
        passwords.set_password(
            session, user=user, password=password, actor=TEST_ACTOR, now=user.created_at
        )
        return Person(id=user.id, username=user.username, password=password)


@pytest.fixture
def person(session_factory: sessionmaker[Session]) -> Person:
    return make_person(session_factory)


def sign_in(client: TestClient, who: Person, password: str | None = None) -> dict:
    response = client.post(
        "/api/v1/auth/sign-in",
        json={"username": who.username, "password": password or who.password},
    )
    assert response.status_code == 200, response.text
    return response.json()


def load_user(factory: sessionmaker[Session], user_id: int) -> User:
    with factory() as session:
        return session.get_one(User, user_id)
