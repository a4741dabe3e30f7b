"""Each approval test gets its own desk (tests/approvals/desk.py), so
``run_due`` reaches only that test's items."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from creditdesk.config import Settings
from tests.approvals.desk import Desk, open_desk
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
