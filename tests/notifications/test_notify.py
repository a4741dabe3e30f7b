"""notify(): one outbox message in the caller's transaction, or none at all."""

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from creditdesk.config import Settings
from creditdesk.notifications.service import EMAIL_TOPIC, NotificationEvent, notify
from creditdesk.notifications.tasks import SendEmail
from creditdesk.outbox.models import OutboxMessage, OutboxStatus
from creditdesk.outbox.registry import NOTIFICATION_EMAIL, default_handlers
from creditdesk.users.models import User
from tests.factories import make_user
from tests.notifications.test_templates import full_context
from tests.smtp_sink import SENDER

NOW = datetime(1985, 3, 4, 5, 6, 7, tzinfo=UTC)


def _settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "smtp_host": "127.0.0.1",
        "smtp_from": SENDER,
        "public_base_url": "https://creditdesk.example.test",
    }
    values.update(overrides)
    return Settings(**values)


def _queued_for(session: Session, user: User) -> list[OutboxMessage]:
    query = sa.select(OutboxMessage).where(OutboxMessage.topic == EMAIL_TOPIC)
    return [m for m in session.scalars(query) if m.payload.get("user_id") == user.id]


def test_notify_queues_the_rendered_mail(session: Session) -> None:
    user = make_user(session)

    message = notify(
        session,
        recipient=user,
        event=NotificationEvent.ASSIGNED,
        context=full_context(recipient_name=user.display_name),
        now=NOW,
        settings=_settings(),
    )

    assert message is not None
    assert message.id is not None
    assert message.topic == "notification.email"
    assert message.status == OutboxStatus.PENDING
    assert message.available_at == NOW
    payload = message.payload
    assert set(payload) == {"to", "subject", "body", "event", "user_id"}
    assert payload["to"] == user.email
    assert payload["user_id"] == user.id
    assert payload["event"] == "work_item.assigned"
    assert payload["subject"] == (
        "[creditdesk] Assigned to you: approval for BC-000012"
    )
    body = payload["body"]
    assert f"Hello {user.display_name}," in body
    assert "assigned to you by Grace Hopper." in body
    assert "GBP 35.00" in body
    assert "https://creditdesk.example.test/credits/BC-000012" in body
    assert _queued_for(session, user) == [message]


def test_the_recipient_name_defaults_to_the_display_name(session: Session) -> None:
    user = make_user(session)
    context = full_context()
    del context["recipient_name"]

    message = notify(
        session,
        recipient=user,
        event=NotificationEvent.REMINDER,
        context=context,
        now=NOW,
        settings=_settings(),
    )

    assert message is not None
    assert f"Hello {user.display_name}," in message.payload["body"]


def test_a_hidden_amount_never_reaches_the_payload(session: Session) -> None:
    user = make_user(session)

    message = notify(
        session,
        recipient=user,
        event=NotificationEvent.DECIDED,
        context=full_context(amount=None),
        now=NOW,
        settings=_settings(),
    )

    assert message is not None
    assert "35.00" not in str(message.payload)
    assert "Amount" not in message.payload["body"]


def test_nothing_is_queued_without_an_smtp_host(session: Session) -> None:
    user = make_user(session)

    message = notify(
        session,
        recipient=user,
        event=NotificationEvent.ASSIGNED,
        context=full_context(),
        now=NOW,
        settings=_settings(smtp_host=None),
    )

    assert message is None
    assert _queued_for(session, user) == []


def test_a_blank_smtp_host_counts_as_none() -> None:
    assert _settings(smtp_host="  ").smtp_host is None
    assert not _settings(smtp_host="").email_enabled


def test_nothing_is_queued_for_a_user_without_an_address(session: Session) -> None:
    user = make_user(session)
    user.email = None
    session.flush()

    message = notify(
        session,
        recipient=user,
        event=NotificationEvent.ESCALATED,
        context=full_context(),
        now=NOW,
        settings=_settings(),
    )

    assert message is None
    assert _queued_for(session, user) == []


def test_nothing_is_queued_for_an_inactive_user(session: Session) -> None:
    user = make_user(session)
    user.is_active = False
    session.flush()

    message = notify(
        session,
        recipient=user,
        event=NotificationEvent.REMINDER,
        context=full_context(),
        now=NOW,
        settings=_settings(),
    )

    assert message is None
    assert _queued_for(session, user) == []


def test_the_worker_knows_the_topic() -> None:
    assert NOTIFICATION_EMAIL == EMAIL_TOPIC == "notification.email"
    assert isinstance(default_handlers()[NOTIFICATION_EMAIL], SendEmail)
