"""The outbox worker: claim due messages, run their handlers, settle them.

Any number of workers may run against one database; leases keep them from
running the same message at the same time, and a crashed worker's messages
come back when their leases expire.
"""

import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence

import structlog
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.clock import Clock
from creditdesk.config import Settings
from creditdesk.db import transaction
from creditdesk.outbox import service
from creditdesk.outbox.errors import (
    LeaseLost,
    PermanentError,
    TransientError,
    describe,
)
from creditdesk.outbox.handlers import (
    DeadLetterHook,
    Handler,
    HandlerContext,
    Periodic,
)
from creditdesk.outbox.registry import default_handlers, default_periodic
from creditdesk.outbox.service import Claim

log = structlog.get_logger(__name__)

_NAME_CHARS = 80


class Worker:
    """Delivers outbox messages to the handler registered for their topic."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        clock: Clock,
        settings: Settings,
        name: str | None = None,
        handlers: Mapping[str, Handler] | None = None,
        periodic: Sequence[Periodic] | None = None,
        give_way: Callable[[], None] | None = None,
    ) -> None:
        """``give_way`` runs before each message: a worker sharing its
        process with the API waits there for the requests in flight."""
        # A worker built for a chosen set of topics runs only what it is
        # given; the default worker also runs the timed jobs.
        if periodic is None:
            periodic = default_periodic() if handlers is None else []
        if handlers is None:
            handlers = default_handlers()
        self._periodic = list(periodic)
        self._session_factory = session_factory
        self._clock = clock
        self._settings = settings
        self._handlers = dict(handlers)
        self._give_way = give_way
        # The suffix keeps two workers started with the same name from
        # settling each other's leases.
        label = (name or f"{socket.gethostname()}-{os.getpid()}")[:_NAME_CHARS]
        self.worker_id = f"{label}-{uuid.uuid4().hex[:8]}"
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """Claim one batch and process it; returns how many were processed."""
        claims = service.claim(
            self._session_factory,
            worker_id=self.worker_id,
            limit=self._settings.worker_batch_size,
            now=self._clock(),
            lease_seconds=self._settings.worker_lease_seconds,
            topics=list(self._handlers),
        )

        processed = 0
        for index, claim in enumerate(claims):
            if self._give_way is not None:
                self._give_way()
            if self._stopping.is_set():
                self._release(claims[index:])
                break
            self._process_safely(claim)
            processed += 1
        self._run_periodic()
        return processed

    def _run_periodic(self) -> None:
        for job in self._periodic:
            if self._stopping.is_set():
                return
            try:
                job(self._session_factory, now=self._clock(), settings=self._settings)
            except Exception:
                # One failing timer must not stop the outbox from draining.
                log.exception(
                    "outbox.periodic_failed", job=getattr(job, "__name__", "?")
                )

    def run_forever(self) -> None:
        """Process batches until stop(); sleep between polls only when idle."""
        log.info("outbox.worker_started", worker_id=self.worker_id)
        while not self._stopping.is_set():
            try:
                processed = self.run_once()
            except Exception:
                # The database may be restarting; keep the worker alive.
                log.exception("outbox.worker_error", worker_id=self.worker_id)
                processed = 0
            if processed == 0:
                self._stopping.wait(self._settings.worker_poll_seconds)
        log.info("outbox.worker_stopped", worker_id=self.worker_id)

    def start(self) -> None:
        """Run the worker in a daemon thread of this process."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self.run_forever, name=f"outbox-{self.worker_id}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        """Ask the worker to stop after the message in hand, and wait for it."""
        self._stopping.set()
        if self._thread is None:
            return
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("outbox.worker_stop_timeout", worker_id=self.worker_id)
        else:
            self._thread = None

    def _process_safely(self, claim: Claim) -> None:
        try:
            self._process(claim)
        except LeaseLost:
            # Someone else owns it now; whatever we did is rolled back.
            return
        except Exception:
            # Settling failed (the database went away?): the lease will expire
            # and the message comes back, so the rest of the batch goes on.
            log.exception(
                "outbox.settle_failed", message_id=claim.id, worker_id=self.worker_id
            )

    def _process(self, claim: Claim) -> None:
        context = HandlerContext(
            session_factory=self._session_factory,
            clock=self._clock,
            settings=self._settings,
            claim=claim,
            worker_id=self.worker_id,
        )
        handler = self._handlers[claim.topic]
        if claim.attempts > self._settings.outbox_max_attempts:
            # Only a worker that died holding the lease gets here; running the
            # message again might kill the next one too.
            self._fail(context, handler, "leases expired on every attempt", retry=False)
            return

        # TODO(outbox): a handler that outlives worker_lease_seconds may run on
        # two workers at once (idempotency keys and LeaseLost keep that safe, but
        # it costs a vendor call); a heartbeat extending the lease would fix it.
        try:
            handler(context)
        except LeaseLost:
            raise
        except PermanentError as exc:
            self._fail(context, handler, describe(exc), retry=False)
            return
        except TransientError as exc:
            self._fail(
                context,
                handler,
                describe(exc),
                retry=True,
                retry_after_seconds=exc.retry_after_seconds,
            )
            return
        except Exception as exc:
            log.exception(
                "outbox.handler_crashed", message_id=claim.id, topic=claim.topic
            )
            self._fail(context, handler, describe(exc), retry=True)
            return

        if context.outcome is None:
            with transaction(self._session_factory) as session:
                context.mark_delivered(session)

    def _fail(
        self,
        context: HandlerContext,
        handler: Handler,
        error: str,
        *,
        retry: bool,
        retry_after_seconds: float | None = None,
    ) -> None:
        if (not retry or context.is_last_attempt) and _told_dead(
            handler, context, error
        ):
            return
        with transaction(self._session_factory) as session:
            service.mark_failed(
                session,
                context.claim.id,
                worker_id=self.worker_id,
                error=error,
                now=self._clock(),
                retry=retry,
                settings=self._settings,
                retry_after_seconds=retry_after_seconds,
            )

    def _release(self, claims: list[Claim]) -> None:
        for claim in claims:
            with transaction(self._session_factory) as session:
                service.release(session, claim.id, worker_id=self.worker_id)


def _told_dead(handler: Handler, context: HandlerContext, error: str) -> bool:
    """Let the handler's ``on_dead`` hook dead-letter the message together with
    its own record of the failure; False if it has none, or it did not settle."""
    hook: DeadLetterHook | None = getattr(handler, "on_dead", None)
    if hook is None:
        return False
    try:
        hook(context, error)
    except LeaseLost:
        raise
    except Exception:
        # The message must still go dead; the hook's changes rolled back.
        log.exception(
            "outbox.on_dead_failed",
            message_id=context.claim.id,
            topic=context.claim.topic,
        )
        return False
    return context.outcome is not None
