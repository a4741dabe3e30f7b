"""Mail settings for the notification tests; the SMTP sink itself is shared
(tests/smtp_sink.py, the ``sink`` fixture in tests/conftest.py)."""

import pytest

from creditdesk.config import Settings
from tests.smtp_sink import Sink, mail_settings


@pytest.fixture
def settings(sink: Sink) -> Settings:
    """Settings whose mail goes to the sink."""
    return mail_settings(sink.port)
