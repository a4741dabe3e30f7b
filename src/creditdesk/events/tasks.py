"""The ``event.deliver`` job: POST one event to one subscriber, signed.

Each attempt is written to the delivery log, whatever its outcome. A 2xx
answer delivers; a timeout, a dropped connection, 408, 429 or a 5xx is tried
again later (Retry-After honoured); any other answer means the receiver will
never take it, and the message is dead-lettered.
"""

import json
import time
from typing import Any

import httpx
import structlog

from creditdesk.db import read_only, transaction
from creditdesk.events.models import EventDelivery, EventSubscription
from creditdesk.integrations import signing
from creditdesk.integrations.http import retry_after_seconds, snippet
from creditdesk.outbox.errors import PermanentError, TransientError
from creditdesk.outbox.handlers import HandlerContext

log = structlog.get_logger(__name__)

_RETRYABLE = frozenset({408, 425, 429})


class DeliverEvent:
    """The handler; ``transport`` lets a test route requests elsewhere."""

    def __init__(self, transport: httpx.BaseTransport | None = None) -> None:
        self._transport = transport

    def __call__(self, context: HandlerContext) -> None:
        payload = context.claim.payload
        subscription = _subscription(context, payload)
        if subscription is None:
            log.info("event.dropped", message_id=context.claim.id)
            return

        url, secret = subscription
        body = _body(payload)
        timestamp = str(int(context.now().timestamp()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "creditdesk-events",
            "X-Creditdesk-Event": str(payload["event_type"]),
            "X-Creditdesk-Event-Id": str(payload["event_id"]),
            signing.TIMESTAMP_HEADER: timestamp,
            signing.SIGNATURE_HEADER: signing.sign(secret, timestamp, body),
        }
        self._send(context, payload, url, body, headers)

    def _send(
        self,
        context: HandlerContext,
        payload: dict[str, Any],
        url: str,
        body: bytes,
        headers: dict[str, str],
    ) -> None:
        started = time.monotonic()
        timeout = context.settings.events_timeout_seconds
        try:
            with httpx.Client(timeout=timeout, transport=self._transport) as http:
                response = http.post(url, content=body, headers=headers)
        except httpx.TransportError as exc:
            error = f"{type(exc).__name__} posting to the subscriber"
            _record(context, payload, started, None, error, retry=True)
            raise TransientError(error) from None

        status = response.status_code
        if 200 <= status < 300:
            _record(context, payload, started, status, None, retry=False)
            return
        error = f"{status}: {snippet(response)}"
        retry = status in _RETRYABLE or status >= 500
        _record(context, payload, started, status, error, retry=retry)
        if retry:
            raise TransientError(
                error, retry_after_seconds=retry_after_seconds(response)
            )
        raise PermanentError(error)


def _subscription(
    context: HandlerContext, payload: dict[str, Any]
) -> tuple[str, str] | None:
    with context.session_factory() as session:
        read_only(session)
        found = session.get(EventSubscription, payload.get("subscription_id"))
        if found is None or not found.is_active:
            return None
        return found.url, found.secret


def _body(payload: dict[str, Any]) -> bytes:
    document = {
        "id": payload["event_id"],
        "type": payload["event_type"],
        "occurred_at": payload["occurred_at"],
        "data": payload["data"],
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def _record(
    context: HandlerContext,
    payload: dict[str, Any],
    started: float,
    status: int | None,
    error: str | None,
    *,
    retry: bool,
) -> None:
    outcome = "delivered" if error is None else "failed"
    if error is not None and retry and not context.is_last_attempt:
        outcome = "retrying"
    with transaction(context.session_factory) as session:
        session.add(
            EventDelivery(
                subscription_id=payload["subscription_id"],
                event_id=payload["event_id"],
                event_type=payload["event_type"],
                attempt=context.claim.attempts,
                outcome=outcome,
                status_code=status,
                error=error,
                duration_ms=int((time.monotonic() - started) * 1000),
                created_at=context.now(),
            )
        )
    log.info(
        "event.delivery",
        event_type=payload["event_type"],
        subscription_id=payload["subscription_id"],
        outcome=outcome,
        status_code=status,
    )
