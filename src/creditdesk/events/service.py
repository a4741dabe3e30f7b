"""Domain events to subscribers: publish with the change, manage subscriptions.

``publish`` queues one outbox message per matching subscription in the
caller's transaction, so an event leaves only if its change committed, and
the worker delivers it at least once (the event id lets receivers drop a
repeat). Subscriptions are read on every publish, so each process keeps them
for a few seconds; a change made here applies at once, one made in another
process within ``CACHE_SECONDS``.
"""

import secrets
import threading
import time
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy import event
from sqlalchemy.orm import Session

from creditdesk.access.service import Permission, require
from creditdesk.actors import Actor
from creditdesk.audit import service as audit
from creditdesk.errors import NotFound, ValidationFailed
from creditdesk.events.models import EventDelivery, EventSubscription
from creditdesk.outbox import service as outbox
from creditdesk.users.models import User

log = structlog.get_logger(__name__)

TOPIC = "event.deliver"
EVENT_TYPES = frozenset(
    {
        "credit.requested",
        "credit.approved",
        "credit.rejected",
        "credit.posted",
        "credit.applied",
        "credit.voided",
        "case.resolved",
    }
)
CACHE_SECONDS = 5.0
_CHANGED = "creditdesk_events_changed"


class _SubscriptionCache:
    """Active subscriptions per database, as plain tuples."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, list[tuple[int, frozenset[str]]]]] = {}
        self._lock = threading.Lock()

    def active(self, session: Session) -> list[tuple[int, frozenset[str]]]:
        key = str(session.get_bind().url)
        with self._lock:
            entry = self._entries.get(key)
        if entry and time.monotonic() - entry[0] < CACHE_SECONDS:
            return entry[1]
        rows = session.execute(
            sa.select(EventSubscription.id, EventSubscription.event_types).where(
                EventSubscription.is_active.is_(True)
            )
        )
        found = [(sub_id, frozenset(types or ())) for sub_id, types in rows]
        with self._lock:
            self._entries[key] = (time.monotonic(), found)
        return found

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_cache = _SubscriptionCache()


@event.listens_for(Session, "after_commit")
def _forget_subscriptions(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        _cache.clear()


def publish(
    session: Session, *, event_type: str, data: dict[str, Any], now: datetime
) -> int:
    """Queue ``event_type`` for every subscription that wants it; returns how
    many deliveries were queued."""
    wanted = [
        sub_id
        for sub_id, types in _cache.active(session)
        if not types or event_type in types
    ]
    if not wanted:
        return 0
    event_id = uuid.uuid4().hex
    for sub_id in wanted:
        outbox.enqueue_now(
            session,
            topic=TOPIC,
            payload={
                "subscription_id": sub_id,
                "event_id": event_id,
                "event_type": event_type,
                "occurred_at": now.isoformat(),
                "data": data,
            },
            now=now,
        )
    return len(wanted)


def _check_types(event_types: list[str]) -> list[str]:
    unknown = sorted(set(event_types) - EVENT_TYPES)
    if unknown:
        known = ", ".join(sorted(EVENT_TYPES))
        raise ValidationFailed.on(
            "event_types", f"unknown event {unknown[0]!r}; use {known}"
        )
    return sorted(set(event_types))


def create_subscription(
    session: Session,
    *,
    admin: User,
    url: str,
    event_types: list[str],
    description: str | None,
    actor: Actor,
    now: datetime,
) -> EventSubscription:
    """Register a receiver; its signing secret is made here and shown once."""
    require(admin, Permission.ADMINISTER)
    subscription = EventSubscription(
        url=url,
        secret=secrets.token_urlsafe(32),
        event_types=_check_types(event_types),
        description=description,
        is_active=True,
        created_by_id=admin.id,
        created_at=now,
    )
    session.add(subscription)
    session.flush()
    session.info[_CHANGED] = True
    audit.record(
        session,
        actor=actor,
        action="event_subscription.created",
        entity_type="event_subscription",
        entity_id=subscription.id,
        changes={
            "url": (None, url),
            "event_types": (None, subscription.event_types),
        },
        now=now,
    )
    return subscription


def list_subscriptions(session: Session, *, admin: User) -> list[EventSubscription]:
    require(admin, Permission.ADMINISTER)
    query = sa.select(EventSubscription).order_by(EventSubscription.id.desc())
    return list(session.scalars(query))


def get_subscription(
    session: Session, *, admin: User, subscription_id: int
) -> EventSubscription:
    require(admin, Permission.ADMINISTER)
    subscription = session.get(EventSubscription, subscription_id)
    if subscription is None:
        raise NotFound(f"event subscription {subscription_id} does not exist")
    return subscription


def revoke_subscription(
    session: Session,
    *,
    admin: User,
    subscription_id: int,
    actor: Actor,
    now: datetime,
) -> EventSubscription:
    """Stop sending; deliveries already queued are dropped when their turn
    comes."""
    subscription = get_subscription(
        session, admin=admin, subscription_id=subscription_id
    )
    if subscription.is_active:
        subscription.is_active = False
        subscription.revoked_at = now
        session.info[_CHANGED] = True
        audit.record(
            session,
            actor=actor,
            action="event_subscription.revoked",
            entity_type="event_subscription",
            entity_id=subscription.id,
            changes={"is_active": (True, False)},
            now=now,
        )
    return subscription


def deliveries(
    session: Session, *, admin: User, subscription_id: int, limit: int = 100
) -> list[EventDelivery]:
    """The newest delivery attempts to one subscription."""
    get_subscription(session, admin=admin, subscription_id=subscription_id)
    query = (
        sa.select(EventDelivery)
        .where(EventDelivery.subscription_id == subscription_id)
        .order_by(EventDelivery.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))
