"""The ``notification.email`` job: send one queued mail.

The mail was rendered when it was queued; the job only checks that its
recipient is still active and hands it to the channel. The channel's
``TransientError`` (server down, 4xx) makes the worker retry with backoff,
its ``PermanentError`` (5xx) dead-letters the message. Every attempt carries
the same Message-ID, so a mail sent twice (the worker died before settling)
can be recognised as one.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from creditdesk.config import Settings
from creditdesk.db import read_only
from creditdesk.notifications.channels import (
    Channel,
    EmailChannel,
    EmailMessageData,
    message_id_for,
)
from creditdesk.outbox.errors import PermanentError
from creditdesk.outbox.handlers import HandlerContext
from creditdesk.users.models import User

log = structlog.get_logger(__name__)

ChannelFactory = Callable[[Settings], Channel]


@dataclass(frozen=True, slots=True)
class _Payload:
    to: str
    subject: str
    body: str
    event: str
    user_id: int


class SendEmail:
    """The ``notification.email`` handler.

    Payload ``{"to", "subject", "body", "event", "user_id"}`` as written by
    ``notifications.service.notify``.
    """

    def __init__(
        self, channel_factory: ChannelFactory = EmailChannel.from_settings
    ) -> None:
        self._channel_factory = channel_factory

    def __call__(self, context: HandlerContext) -> None:
        payload = _parse(context.claim.payload)
        if not _still_active(context, payload.user_id):
            log.info(
                "notification.skipped",
                user_id=payload.user_id,
                notification_event=payload.event,
                message_id=context.claim.id,
                reason="recipient_inactive",
            )
            return

        sender = context.settings.smtp_from
        message = EmailMessageData(
            message_id=message_id_for(context.claim.id, sender),
            sender=sender,
            to=payload.to,
            subject=payload.subject,
            body=payload.body,
            sent_at=context.now(),
        )
        self._channel_factory(context.settings).send(message)
        log.info(
            "notification.sent",
            user_id=payload.user_id,
            notification_event=payload.event,
            message_id=context.claim.id,
            attempts=context.claim.attempts,
        )


def _parse(payload: dict[str, Any]) -> _Payload:
    texts = {}
    for key in ("to", "subject", "body", "event"):
        value = payload.get(key)
        if not isinstance(value, str) or not value:
            raise PermanentError(f"the payload has no text {key}")
        texts[key] = value
    user_id = payload.get("user_id")
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise PermanentError("the payload has no integer user_id")
    return _Payload(user_id=user_id, **texts)


def _still_active(context: HandlerContext, user_id: int) -> bool:
    # Someone deactivated between queueing and sending (a reminder queued
    # days ago, say) should no longer be mailed.
    with context.session_factory() as session:
        user = read_only(session).get(User, user_id)
        return user is not None and user.is_active
