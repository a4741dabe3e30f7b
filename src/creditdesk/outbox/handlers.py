"""The contract between the worker and the jobs it runs for each topic."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.clock import Clock
from creditdesk.config import Settings
from creditdesk.outbox import service
from creditdesk.outbox.models import OutboxStatus
from creditdesk.outbox.service import Claim

log = structlog.get_logger(__name__)


@dataclass
class HandlerContext:
    """What a handler gets: its message, the database, time and settings.

    A handler that must settle its message in the same transaction as its own
    changes calls ``mark_delivered`` or ``mark_dead`` with that session;
    otherwise the worker marks the message delivered when the handler returns.
    """

    session_factory: sessionmaker[Session]
    clock: Clock
    settings: Settings
    claim: Claim
    worker_id: str
    outcome: OutboxStatus | None = None

    def now(self) -> datetime:
        return self.clock()

    @property
    def is_last_attempt(self) -> bool:
        """True when a transient failure now would dead-letter the message."""
        return self.claim.attempts >= self.settings.outbox_max_attempts

    def mark_delivered(self, session: Session) -> None:
        """Settle the message inside the caller's transaction.

        LeaseLost if it is no longer ours, which rolls the caller's changes back
        with it.
        """
        service.mark_delivered(
            session, self.claim.id, worker_id=self.worker_id, now=self.now()
        )
        self.outcome = OutboxStatus.DELIVERED
        log.info(
            "outbox.delivered",
            message_id=self.claim.id,
            topic=self.claim.topic,
            attempts=self.claim.attempts,
            worker_id=self.worker_id,
        )

    def mark_dead(self, session: Session, error: str) -> None:
        """Dead-letter the message inside the caller's transaction."""
        service.mark_failed(
            session,
            self.claim.id,
            worker_id=self.worker_id,
            error=error,
            now=self.now(),
            retry=False,
            settings=self.settings,
        )
        self.outcome = OutboxStatus.DEAD


Handler = Callable[[HandlerContext], None]

# A handler may also have ``on_dead(context, error)``: the worker calls it
# instead of dead-lettering the message itself whenever the message goes dead
# outside the handler (its leases expired on every attempt, or the handler
# raised on its last attempt). The hook settles the message with
# ``context.mark_dead`` in the transaction that records the failure; if it
# raises or leaves the message unsettled, the worker dead-letters it alone.
DeadLetterHook = Callable[[HandlerContext, str], None]

# A timed job: given the database, the time and the settings, do what is due.
Periodic = Callable[..., object]
