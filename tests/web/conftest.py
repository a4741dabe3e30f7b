"""Page tests: a browser-like TestClient per person (cookies, https)."""

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.web.support import Person, sign_in

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
