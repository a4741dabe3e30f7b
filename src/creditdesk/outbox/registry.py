"""The one place that says which job handles which outbox topic, and which
timed jobs a worker runs on every pass."""

from creditdesk.approvals.timers import run_due
from creditdesk.billing.reversals import VoidCredit
from creditdesk.billing.tasks import PostCredit
from creditdesk.events.service import TOPIC as EVENT_DELIVER
from creditdesk.events.tasks import DeliverEvent
from creditdesk.notifications.service import EMAIL_TOPIC
from creditdesk.notifications.tasks import SendEmail
from creditdesk.outbox.handlers import Handler, Periodic

CREDIT_POST = "credit.post"
CREDIT_VOID = "credit.void"
NOTIFICATION_EMAIL = EMAIL_TOPIC


def default_handlers() -> dict[str, Handler]:
    """Topic -> handler for a worker started without an explicit registry."""
    return {
        CREDIT_POST: PostCredit(),
        EVENT_DELIVER: DeliverEvent(),
        CREDIT_VOID: VoidCredit(),
        NOTIFICATION_EMAIL: SendEmail(),
    }


def default_periodic() -> list[Periodic]:
    """Jobs run after each batch: approval reminders and escalations."""
    return [run_due]
