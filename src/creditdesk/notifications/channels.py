"""Ways a notification reaches a person; for now, e-mail over SMTP.

A channel raises ``TransientError`` when trying again later may help (the
server is down, slow, or answered 4xx) and ``PermanentError`` when it cannot
(5xx: the recipient or the message was refused), so the worker knows whether
to retry or dead-letter.
"""

import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Protocol, Self

import structlog

from creditdesk.config import Settings
from creditdesk.outbox.errors import PermanentError, TransientError

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class EmailMessageData:
    """One plain-text mail, ready to send."""

    message_id: str
    sender: str
    to: str
    subject: str
    body: str
    sent_at: datetime


class Channel(Protocol):
    """Something that can deliver a mail, or say why it could not."""

    def send(self, message: EmailMessageData) -> None: ...


def message_id_for(outbox_message_id: int, sender: str) -> str:
    """The Message-ID of the mail sent for an outbox message.

    It is the same on every attempt, so a receiver that got the mail before
    (the worker died before settling) can recognise a redelivery.
    """
    _, _, domain = sender.rpartition("@")
    return f"<outbox-{outbox_message_id}@{domain or 'creditdesk'}>"


class EmailChannel:
    """Sends mail through one SMTP server, a new connection per message."""

    def __init__(
        self,
        *,
        host: str,
        port: int = 25,
        timeout_seconds: float = 10.0,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._timeout = timeout_seconds
        self._starttls = starttls
        self._username = username
        self._password = password

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """The channel ``CREDITDESK_SMTP_*`` describes (PermanentError if none)."""
        if settings.smtp_host is None:
            raise PermanentError("e-mail is not configured (no CREDITDESK_SMTP_HOST)")
        password = settings.smtp_password
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            timeout_seconds=settings.smtp_timeout_seconds,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=password.get_secret_value() if password else None,
        )

    def send(self, message: EmailMessageData) -> None:
        """Hand the mail to the server; it has accepted it when this returns."""
        mail = _build(message)
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                if self._starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self._username is not None:
                    smtp.login(self._username, self._password or "")
                smtp.send_message(mail, from_addr=message.sender, to_addrs=[message.to])
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise _by_code(code, text, "recipient refused") from exc
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, exc.smtp_error, "refused") from exc
        except smtplib.SMTPNotSupportedError as exc:
            # STARTTLS or AUTH asked for but not offered: a settings problem
            # that no retry fixes.
            raise PermanentError(f"SMTP server lacks a feature: {exc}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            # Refused or dropped connections, timeouts, TLS failures.
            raise TransientError(f"SMTP server unreachable: {exc}") from exc
        log.info(
            "notification.email_sent",
            message_id=message.message_id,
            host=self._host,
            port=self._port,
        )


def _build(message: EmailMessageData) -> EmailMessage:
    mail = EmailMessage()
    try:
        mail["From"] = message.sender
        mail["To"] = message.to
        mail["Subject"] = message.subject
        mail["Message-ID"] = message.message_id
    except ValueError as exc:
        # A line break in a header value: the payload is bad, not the server.
        raise PermanentError(f"the mail cannot be built: {exc}") from exc
    mail["Date"] = format_datetime(message.sent_at)
    # Asks vacation responders and the like not to answer an automatic mail.
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(message.body)
    return mail


def _by_code(
    code: int, text: bytes | str, what: str
) -> TransientError | PermanentError:
    reply = text.decode(errors="replace") if isinstance(text, bytes) else text
    described = f"SMTP {what}: {code} {reply}"
    if 500 <= code < 600:
        return PermanentError(described)
    return TransientError(described)
