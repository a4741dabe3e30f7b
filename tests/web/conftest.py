"""Page tests: a browser-like TestClient per person (cookies, https); and,
for browser tests, Chromium launched by pytest-playwright against the
console served for real (tests/web/browser.py)."""

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Page
from sqlalchemy.orm import Session, sessionmaker

from tests.web.browser import CHROMIUM_ARGS, Console, chromium_or_fail, serve_console
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


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """pytest-playwright's launch arguments, pointed at Debian's Chromium."""
    try:
        executable = chromium_or_fail()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    return {
        **browser_type_launch_args,
        "executable_path": executable,
        "args": CHROMIUM_ARGS,
        "headless": True,
    }


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """The console served over real HTTP on its own demo database (a module
    shares it: its stories build on the demo's cases)."""
    with serve_console(tmp_path_factory.mktemp("console")) as served:
        yield served


SignIn = Callable[[str], Page]


@pytest.fixture
def sign_in_as(page: Page, console: Console) -> SignIn:
    """``sign_in_as("alex.agent")``: the test's page, signed in through the
    form with the demo password, on the home page."""

    def sign(username: str) -> Page:
        page.goto(f"{console.url}/sign-in")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(console.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{console.url}/")
        return page

    return sign
