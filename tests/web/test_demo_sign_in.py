"""The demo users sign in to the console with the documented password."""

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.actors import Actor, Channel
from creditdesk.db import transaction
from creditdesk.demo.service import DEMO_PASSWORD, build_demo, give_passwords
from tests.factories import now
from tests.web.conftest import ClientFor

ACTOR = Actor.system(Channel.CLI, name="cli:test")


def test_demo_users_sign_in_with_the_demo_password_set_once(
    client_for: ClientFor, session_factory: sessionmaker[Session]
) -> None:
    with transaction(session_factory) as session:
        org = build_demo(session, actor=ACTOR, now=now())
        give_passwords(session, org, actor=ACTOR, now=now())
    with transaction(session_factory) as session:
        org = build_demo(session, actor=ACTOR, now=now())
        assert give_passwords(session, org, actor=ACTOR, now=now()) == 0

    browser: TestClient = client_for(None)
    response = browser.post(
        "/sign-in",
        data={"username": "alex.agent", "password": DEMO_PASSWORD},
        follow_redirects=False,
    )

    assert response.status_code == 303
    assert "Alex Moreno" in browser.get("/").text
