"""Fixtures for approval tests, each on a database of its own.

A policy comes into force for the whole database it is applied to, and
``run_due`` reaches every item whose time has come, so these tests never share
the run's database: ``desk`` is one per test (tests/approvals/desk.py), and
``world`` one per module with the chain-per-band policy applied
(tests/approvals/support.py).
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from creditdesk.app import create_app
from creditdesk.config import Settings
from creditdesk.db import create_engine, make_session_factory, transaction
from creditdesk.policy.service import apply_policy
from creditdesk.users.models import Role
from tests.approvals.desk import Desk, open_desk
from tests.approvals.support import GHOSTS, World, policy_text
from tests.databases import scratch_database, server_url
from tests.factories import TEST_ACTOR, make_user, now
from tests.smtp_sink import Sink, mail_settings


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    """A desk under the shipped default policy, with e-mail off."""
    with open_desk(tmp_path, Settings(env="test")) as desk:
        yield desk


@pytest.fixture
def mail_desk(tmp_path: Path, sink: Sink) -> Iterator[Desk]:
    """A desk whose e-mail goes to the SMTP sink."""
    with open_desk(tmp_path, mail_settings(sink.port)) as desk:
        yield desk


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with scratch_database(
        server_url(),
        prefix="creditdesk_approvals",
        directory=tmp_path_factory.mktemp("approvals"),
    ) as url:
        engine = create_engine(url)
        factory = make_session_factory(engine)
        app = create_app(Settings(database_url=url, env="test"), engine=engine)
        with TestClient(app) as client:
            world = World(factory=factory, client=client)
            # Group members and the named approver sit in a team of their own,
            # so nobody in a test's reporting line is one of them by accident.
            team = world.team()
            world.group = [world.person(Role.MANAGER, team=team) for _ in range(3)]
            world.named = world.person(Role.FINANCE, team=team)
            text = policy_text(
                [p.user.username for p in world.group], world.named.user.username
            )
            with transaction(factory) as session:
                ghosts = [
                    make_user(session, role=Role.MANAGER, username=name)
                    for name in GHOSTS
                ]
                apply_policy(session, text=text, actor=TEST_ACTOR, now=now())
                for ghost in ghosts:
                    ghost.is_active = False
            yield world
        engine.dispose()
