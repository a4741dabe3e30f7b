from fastapi import APIRouter, status
from pydantic import BaseModel

from creditdesk.api.deps import CurrentActor, CurrentUser, DbSession, Now, ReadSession
from creditdesk.events import service
from creditdesk.events.schemas import (
    DeliveryOut,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
)

router = APIRouter(prefix="/admin/event-subscriptions", tags=["events"])


class SubscriptionsOut(BaseModel):
    items: list[SubscriptionOut]


class DeliveriesOut(BaseModel):
    items: list[DeliveryOut]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_subscription(
    body: SubscriptionIn,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
) -> SubscriptionCreated:
    """Send domain events (`credit.requested`, `credit.approved`,
    `credit.rejected`, `credit.posted`, `credit.applied`, `credit.voided`,
    `case.resolved`) to `url`. Each delivery is a POST of `{id, type,
    occurred_at, data}` signed with HMAC-SHA256 over `"{timestamp}.{body}"`
    (headers `X-Creditdesk-Timestamp`, `X-Creditdesk-Signature: v1=<hex>`),
    retried with backoff until a 2xx. The secret is in this answer only."""
    subscription = service.create_subscription(
        session,
        admin=user,
        url=str(body.url),
        event_types=body.event_types,
        description=body.description,
        actor=actor,
        now=now,
    )
    out = SubscriptionOut.of(subscription).model_dump()
    return SubscriptionCreated(**out, secret=subscription.secret)


@router.get("")
def list_subscriptions(session: ReadSession, user: CurrentUser) -> SubscriptionsOut:
    """Every subscription, newest first, without secrets."""
    found = service.list_subscriptions(session, admin=user)
    return SubscriptionsOut(items=[SubscriptionOut.of(s) for s in found])


@router.delete("/{subscription_id}")
def revoke_subscription(
    subscription_id: int,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
) -> SubscriptionOut:
    """Stop sending events to this subscription."""
    subscription = service.revoke_subscription(
        session, admin=user, subscription_id=subscription_id, actor=actor, now=now
    )
    return SubscriptionOut.of(subscription)


@router.get("/{subscription_id}/deliveries")
def list_deliveries(
    subscription_id: int, session: ReadSession, user: CurrentUser
) -> DeliveriesOut:
    """The delivery log: the newest 100 attempts with their outcome."""
    found = service.deliveries(session, admin=user, subscription_id=subscription_id)
    return DeliveriesOut(items=[DeliveryOut.of(d) for d in found])
