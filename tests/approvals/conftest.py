"""A database per test module with the chain-per-band policy applied, since
a policy comes into force for the whole database it is applied to."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from creditdesk.app import create_app
from creditdesk.config import Settings
from creditdesk.db import create_engine, make_session_factory, transaction
from creditdesk.policy.service import apply_policy
from creditdesk.users.models import Role
from tests.approvals.support import World, policy_text
from tests.databases import scratch_database, server_url
from tests.factories import TEST_ACTOR, now


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
                apply_policy(session, text=text, actor=TEST_ACTOR, now=now())
            yield world
        engine.dispose()
