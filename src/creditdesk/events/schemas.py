"""What comes in and goes out of the event-subscription routes."""

from datetime import datetime

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from creditdesk.api.text import FreeText
from creditdesk.events.models import EventDelivery, EventSubscription


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl = Field(description="Where events are POSTed")
    event_types: list[str] = Field(
        default_factory=list, description="Empty: every event", max_length=20
    )
    description: FreeText | None = Field(default=None, max_length=200)


class SubscriptionOut(BaseModel):
    """A subscription; its secret is shown only in the answer that made it."""

    id: int
    url: str
    event_types: list[str]
    description: str | None
    is_active: bool
    created_by_id: int
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, subscription: EventSubscription) -> "SubscriptionOut":
        return cls(
            id=subscription.id,
            url=subscription.url,
            event_types=list(subscription.event_types),
            description=subscription.description,
            is_active=subscription.is_active,
            created_by_id=subscription.created_by_id,
            created_at=subscription.created_at,
            revoked_at=subscription.revoked_at,
        )


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(
        description="Signs every delivery (X-Creditdesk-Signature); shown once"
    )


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event_id: str
    event_type: str
    attempt: int
    outcome: str
    status_code: int | None
    error: str | None
    duration_ms: int
    created_at: datetime

    @classmethod
    def of(cls, delivery: EventDelivery) -> "DeliveryOut":
        return cls.model_validate(delivery)
