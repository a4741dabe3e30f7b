from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from creditdesk.api.text import Because
from creditdesk.outbox.models import OutboxMessage, OutboxStatus


class CommentIn(BaseModel):
    """Why the message is retried or cancelled; kept in the audit trail."""

    model_config = ConfigDict(extra="forbid")

    comment: Because = Field(max_length=4000)


class OutboxMessageOut(BaseModel):
    """A message as billing operations see it, payload included."""

    id: int
    topic: str
    status: OutboxStatus
    payload: dict[str, Any]
    attempts: int
    available_at: datetime
    lease_owner: str | None
    lease_expires_at: datetime | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, message: OutboxMessage) -> "OutboxMessageOut":
        return cls(
            id=message.id,
            topic=message.topic,
            status=message.status,
            payload=dict(message.payload),
            attempts=message.attempts,
            available_at=message.available_at,
            lease_owner=message.lease_owner,
            lease_expires_at=message.lease_expires_at,
            last_error=message.last_error,
            created_at=message.created_at,
            delivered_at=message.delivered_at,
        )
