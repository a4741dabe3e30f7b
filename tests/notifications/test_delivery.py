"""The worker sends queued mail to a real SMTP server and settles by outcome."""

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.clock import FrozenClock
from creditdesk.config import Settings
from creditdesk.db import transaction
from creditdesk.notifications.service import NotificationEvent, notify
from creditdesk.outbox.models import OutboxMessage, OutboxStatus
from creditdesk.outbox.registry import default_handlers
from creditdesk.outbox.worker import Worker
from creditdesk.users.models import User
from tests.factories import make_user
from tests.notifications.test_templates import full_context
from tests.smtp_sink import SENDER, Sink, free_port, mail_settings

# Long before any other test's messages, so these workers claim only ours.
START = datetime(1985, 6, 7, 8, 9, 10, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


def _worker(
    factory: sessionmaker[Session], clock: FrozenClock, settings: Settings
) -> Worker:
    return Worker(
        factory,
        clock=clock,
        settings=settings,
        name="notifications",
        handlers=default_handlers(),
    )


def _queue(
    factory: sessionmaker[Session], clock: FrozenClock, settings: Settings
) -> tuple[int, User]:
    with transaction(factory) as session:
        user = make_user(session)
        message = notify(
            session,
            recipient=user,
            event=NotificationEvent.ASSIGNED,
            context=full_context(recipient_name=user.display_name),
            now=clock(),
            settings=settings,
        )
        assert message is not None
        return message.id, user


def _message(factory: sessionmaker[Session], message_id: int) -> OutboxMessage:
    with factory() as session:
        return session.get_one(OutboxMessage, message_id)


def test_the_worker_delivers_the_mail(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    sink: Sink,
) -> None:
    message_id, user = _queue(session_factory, clock, settings)

    assert _worker(session_factory, clock, settings).run_once() == 1

    [received] = sink.received
    assert received.mail_from == SENDER
    assert received.rcpt_tos == [user.email]
    mail = received.message
    assert mail["To"] == user.email
    assert mail["From"] == SENDER
    assert mail["Subject"] == "[creditdesk] Assigned to you: approval for BC-000012"
    assert mail["Message-ID"] == f"<outbox-{message_id}@example.test>"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert parsedate_to_datetime(mail["Date"]) == START
    body = mail.get_content()
    assert f"Hello {user.display_name}," in body
    assert "https://creditdesk.example.test/credits/BC-000012" in body

    message = _message(session_factory, message_id)
    assert message.status == OutboxStatus.DELIVERED
    assert message.delivered_at == START
    assert message.attempts == 1


def test_a_server_that_is_down_means_a_retry(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    sink: Sink,
) -> None:
    message_id, _ = _queue(session_factory, clock, settings)
    down = mail_settings(free_port())

    assert _worker(session_factory, clock, down).run_once() == 1

    message = _message(session_factory, message_id)
    assert message.status == OutboxStatus.PENDING
    assert message.attempts == 1
    assert message.available_at > START
    assert message.last_error is not None
    assert message.last_error.startswith("TransientError: SMTP server unreachable")

    # Once the server is back, the retry goes through.
    clock.advance(timedelta(seconds=settings.outbox_backoff_max_seconds))
    assert _worker(session_factory, clock, settings).run_once() == 1

    [received] = sink.received
    assert received.message["Message-ID"] == f"<outbox-{message_id}@example.test>"
    message = _message(session_factory, message_id)
    assert message.status == OutboxStatus.DELIVERED
    assert message.attempts == 2


def test_a_4xx_answer_means_a_retry(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    sink: Sink,
) -> None:
    message_id, _ = _queue(session_factory, clock, settings)
    sink.handler.rcpt_reply = "451 4.3.0 Mailbox busy, try later"
    worker = _worker(session_factory, clock, settings)

    assert worker.run_once() == 1

    message = _message(session_factory, message_id)
    assert message.status == OutboxStatus.PENDING
    assert message.attempts == 1
    assert message.available_at > START
    assert message.last_error is not None
    assert "451" in message.last_error
    assert sink.received == []

    sink.handler.rcpt_reply = None
    clock.advance(timedelta(seconds=settings.outbox_backoff_max_seconds))
    assert worker.run_once() == 1
    assert len(sink.received) == 1
    assert _message(session_factory, message_id).status == OutboxStatus.DELIVERED


def test_a_refused_recipient_is_dead_at_once(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    sink: Sink,
) -> None:
    message_id, _ = _queue(session_factory, clock, settings)
    sink.handler.rcpt_reply = "550 5.1.1 No such mailbox"

    assert _worker(session_factory, clock, settings).run_once() == 1

    message = _message(session_factory, message_id)
    assert message.status == OutboxStatus.DEAD
    assert message.attempts == 1
    assert message.last_error is not None
    assert message.last_error.startswith("PermanentError: SMTP recipient refused: 550")
    assert sink.received == []


def test_starttls_that_the_server_lacks_is_a_settings_error(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    sink: Sink,
) -> None:
    message_id, _ = _queue(session_factory, clock, settings)
    tls = settings.model_copy(update={"smtp_starttls": True})

    assert _worker(session_factory, clock, tls).run_once() == 1

    message = _message(session_factory, message_id)
    assert message.status == OutboxStatus.DEAD
    assert message.last_error is not None
    assert "STARTTLS" in message.last_error
    assert sink.received == []


def test_a_user_deactivated_meanwhile_is_not_mailed(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    sink: Sink,
) -> None:
    message_id, user = _queue(session_factory, clock, settings)
    with transaction(session_factory) as session:
        session.get_one(User, user.id).is_active = False

    assert _worker(session_factory, clock, settings).run_once() == 1

    assert sink.received == []
    assert _message(session_factory, message_id).status == OutboxStatus.DELIVERED


def test_mail_switched_off_after_queueing_is_dead_lettered(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
) -> None:
    message_id, _ = _queue(session_factory, clock, settings)
    off = settings.model_copy(update={"smtp_host": None})

    assert _worker(session_factory, clock, off).run_once() == 1

    message = _message(session_factory, message_id)
    assert message.status == OutboxStatus.DEAD
    assert message.last_error is not None
    assert "not configured" in message.last_error
