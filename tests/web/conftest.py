"""Page tests: a browser-like TestClient per person (cookies, https)."""

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.web.support import Desk, Person, make_desk, sign_in

ClientFor = Callable[[Person | None], TestClient]


@pytest.fixture
def client_for(app: FastAPI) -> Iterator[ClientFor]:
    """``client_for(person)``: a new client signed in as ``person`` (None:
    signed out). Over https, since the session cookie is Secure."""
    opened: list[TestClient] = []

    def make(who: Person | None) -> TestClient:
        client = TestClient(app, base_url="https://testserver")
        opened.append(client)
        if who is not None:
            sign_in(client, who)
        return client

    yield make
    for client in opened:
        client.close()


@pytest.fixture
def desk(session_factory: sessionmaker[Session]) -> Desk:
    """A fresh team and case per test, so counts and lists are the test's own."""
    return make_desk(session_factory)
