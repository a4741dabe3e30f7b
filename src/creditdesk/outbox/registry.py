"""The one place that says which job handles which outbox topic."""

from creditdesk.billing.tasks import PostCredit
from creditdesk.notifications.service import EMAIL_TOPIC
from creditdesk.notifications.tasks import SendEmail
from creditdesk.outbox.handlers import Handler

CREDIT_POST = "credit.post"
NOTIFICATION_EMAIL = EMAIL_TOPIC


def default_handlers() -> dict[str, Handler]:
    """Topic -> handler for a worker started without an explicit registry."""
    return {
        CREDIT_POST: PostCredit(),
        NOTIFICATION_EMAIL: SendEmail(),
    }
