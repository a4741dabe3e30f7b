"""Tell people about their work items by e-mail, through the outbox.

``notify`` renders the mail while the caller's transaction is open and queues
it as a ``notification.email`` outbox message, so a notification leaves only
if the change that caused it commits. The worker then sends it
(``notifications.tasks``).

The caller shapes the context for the recipient; every template sees:

``recipient_name``
    how to greet them (defaults to the recipient's display name)
``credit_number``, ``case_number``, ``case_subject``
    what the work item is about
``item_kind``
    what is asked of them, e.g. "approval", "more information",
    "posting failed"
``due_at``
    an aware datetime, or None; shown in UTC
``actor_name``
    who assigned, escalated or decided, or None for the system
``decision``
    "approved", "rejected", ... (``work_item.decided`` only)
``comment``
    free text or None
``amount``
    a formatted amount such as "GBP 35.00", or None when the recipient may
    not see amounts: the amount is then left out of the mail entirely. Mask
    ``comment`` the same way (``access.fields.FieldView.mask_text``).
``link``
    a path such as ``/credits/BC-000012``, made absolute with
    ``public_base_url``

A template that uses a key the caller did not pass fails at once
(``jinja2.UndefinedError``) rather than mailing a blank.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import jinja2
import structlog
from sqlalchemy.orm import Session

from creditdesk.config import Settings
from creditdesk.outbox import service as outbox
from creditdesk.outbox.models import OutboxMessage
from creditdesk.users.models import User

log = structlog.get_logger(__name__)

EMAIL_TOPIC = "notification.email"


class NotificationEvent(StrEnum):
    """What happened to a work item; each has its own templates."""

    ASSIGNED = "work_item.assigned"
    REMINDER = "work_item.reminder"
    ESCALATED = "work_item.escalated"
    DECIDED = "work_item.decided"


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    body: str


def _utc(value: datetime) -> str:
    if value.tzinfo is None:
        # A naive time would be shown as if it were UTC, which it may not be.
        raise ValueError("notification times must be aware datetimes")
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("creditdesk.notifications", "templates"),
        # Plain-text mail: escaping would put &amp; in front of the reader.
        autoescape=False,  # noqa: S701
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["utc"] = _utc
    return environment


_templates = _environment()


def render(
    event: NotificationEvent, context: Mapping[str, object], *, base_url: str
) -> RenderedEmail:
    """The subject and body of ``event``'s mail for ``context``."""
    values = dict(context)
    link = values.get("link")
    if isinstance(link, str):
        values["link"] = absolute_url(base_url, link)

    subject = _templates.get_template(f"{event.value}.subject.txt").render(values)
    body = _templates.get_template(f"{event.value}.txt").render(values)
    # A case subject may hold a line break; a header must not.
    return RenderedEmail(subject=" ".join(subject.split()), body=body)


def absolute_url(base_url: str, link: str) -> str:
    """``link`` under ``base_url``, unless it is a full URL already."""
    if "://" in link:
        return link
    return f"{base_url.rstrip('/')}/{link.lstrip('/')}"


def notify(
    session: Session,
    *,
    recipient: User,
    event: NotificationEvent,
    context: Mapping[str, object],
    now: datetime,
    settings: Settings,
) -> OutboxMessage | None:
    """Queue an e-mail about ``event`` to ``recipient`` in the caller's transaction.

    Returns the outbox message, or None when nothing is sent: e-mail is not
    configured, or the recipient is inactive or has no address.
    """
    reason = _reason_to_skip(recipient, settings)
    if reason is not None:
        log.info(
            "notification.skipped",
            user_id=recipient.id,
            notification_event=event.value,
            reason=reason,
        )
        return None

    values = {"recipient_name": recipient.display_name, **context}
    email = render(event, values, base_url=settings.public_base_url)
    message = outbox.enqueue(
        session,
        topic=EMAIL_TOPIC,
        payload={
            "to": recipient.email,
            "subject": email.subject,
            "body": email.body,
            "event": event.value,
            "user_id": recipient.id,
        },
        now=now,
    )
    log.info(
        "notification.queued",
        user_id=recipient.id,
        notification_event=event.value,
        message_id=message.id,
    )
    return message


def _reason_to_skip(recipient: User, settings: Settings) -> str | None:
    if not settings.email_enabled:
        return "email_not_configured"
    if not recipient.is_active:
        return "recipient_inactive"
    if not recipient.email or not recipient.email.strip():
        return "recipient_has_no_email"
    return None
