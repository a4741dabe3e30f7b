"""A real SMTP server on 127.0.0.1 that keeps what it is sent."""

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

import pytest
from aiosmtpd.controller import Controller

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


@pytest.fixture
def sink() -> Iterator[Sink]:
    handler = SinkHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield Sink(controller.port, handler)
    finally:
        controller.stop()


def mail_settings(port: int) -> Settings:
    return Settings(
        env="test",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_from=SENDER,
        smtp_timeout_seconds=5,
        public_base_url="https://creditdesk.example.test/",
        outbox_max_attempts=3,
        outbox_backoff_base_seconds=10,
        outbox_backoff_max_seconds=60,
    )


@pytest.fixture
def settings(sink: Sink) -> Settings:
    """Settings whose mail goes to the sink."""
    return mail_settings(sink.port)
