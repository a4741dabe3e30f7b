"""A real SMTP server on 127.0.0.1 that keeps what it is sent (the ``sink``
fixture in tests/conftest.py starts one per test)."""

import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

from creditdesk.config import Settings

SENDER = "creditdesk@example.test"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class SinkHandler:
    """aiosmtpd handler: accepts everything unless told how to refuse RCPT."""

    received: list[Received] = field(default_factory=list)
    rcpt_reply: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self,
        server: Any,
        session: Any,
        envelope: Any,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.received.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    cast(EmailMessage, message),
                )
            )
        return "250 Message accepted for delivery"


@dataclass
class Sink:
    port: int
    handler: SinkHandler

    @property
    def received(self) -> list[Received]:
        return self.handler.received


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def mail_settings(port: int, **overrides: Any) -> Settings:
    """Settings that send mail to the sink on ``port``; ``overrides`` (a
    database URL, say) are passed on."""
    values: dict[str, Any] = {
        "env": "test",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_from": SENDER,
        "smtp_timeout_seconds": 5,
        "public_base_url": "https://creditdesk.example.test/",
        "outbox_max_attempts": 3,
        "outbox_backoff_base_seconds": 10,
        "outbox_backoff_max_seconds": 60,
    }
    values.update(overrides)
    return Settings(**values)
