from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.config import Settings
from tests.access.support import AccessOrg, make_access_org
from tests.api_helpers import drain_outbox


@pytest.fixture(scope="module")
def people(
    session_factory: sessionmaker[Session], settings: Settings
) -> Iterator[AccessOrg]:
    """A fresh organisation per module. Approvals here queue postings; they
    are delivered afterwards so other modules find an empty outbox."""
    yield make_access_org(session_factory)
    drain_outbox(session_factory, settings, rounds=50)
