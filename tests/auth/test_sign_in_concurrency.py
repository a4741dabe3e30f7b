"""Concurrent failed sign-ins each count (the user row is locked meanwhile)."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.auth import sessions
from creditdesk.config import Settings
from creditdesk.db import transaction
from creditdesk.errors import NotAuthenticated
from tests.auth.conftest import load_user, make_person

ATTEMPTS = 8


@pytest.mark.postgres
def test_concurrent_failures_are_all_counted(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    who = make_person(session_factory)
    lenient = settings.model_copy(
        update={"sign_in_throttle_after": 50, "sign_in_lockout_after": 60}
    )

    def attempt(n: int) -> bool:
        # Commit even though sign_in raises: the failure must stick.
        with transaction(session_factory) as session:
            try:
                sessions.sign_in(
                    session,
                    username=who.username,
                    password=f"wrong password {n:04d}",
                    now=datetime.now(UTC),
                    client_ip="127.0.0.1",
                    user_agent="pytest",
                    settings=lenient,
                )
            except NotAuthenticated:
                return False
        return True

    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        results = list(pool.map(attempt, range(ATTEMPTS)))

    assert results == [False] * ATTEMPTS
    assert load_user(session_factory, who.id).failed_sign_ins == ATTEMPTS
