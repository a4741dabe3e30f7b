"""Billing operations over HTTP: the outbox's messages, dead letters first
among them, and retrying or cancelling them. Finance and administrators only;
every other role gets 403."""

from typing import Annotated

from fastapi import APIRouter, Query

from creditdesk.api.deps import (
    AppSettings,
    CurrentActor,
    CurrentUser,
    DbSession,
    Now,
    ReadSession,
)
from creditdesk.api.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Page,
    decode_cursor,
    next_cursor,
)
from creditdesk.outbox import operations
from creditdesk.outbox.models import OutboxStatus
from creditdesk.outbox.schemas import CommentIn, OutboxMessageOut

router = APIRouter(tags=["operations"])


@router.get("/ops/outbox")
def list_messages(
    session: ReadSession,
    user: CurrentUser,
    status: OutboxStatus | None = None,
    topic: Annotated[str | None, Query(max_length=64)] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[OutboxMessageOut]:
    """Outbox messages matching every filter given, newest first:
    `status=dead` lists the dead letters. Pass `next_cursor` back as `cursor`
    for the next page."""
    messages = operations.list_messages(
        session,
        user=user,
        status=status,
        topic=topic,
        before_id=decode_cursor(cursor),
        limit=limit,
    )
    return Page(
        items=[OutboxMessageOut.of(m) for m in messages],
        next_cursor=next_cursor([m.id for m in messages], limit),
    )


@router.get("/ops/outbox/{message_id}")
def get_message(
    message_id: int, session: ReadSession, user: CurrentUser
) -> OutboxMessageOut:
    """One message with its payload, attempts and last error."""
    return OutboxMessageOut.of(operations.get_message(session, message_id, user=user))


@router.post("/ops/outbox/{message_id}/retry")
def retry_message(
    message_id: int,
    body: CommentIn,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
) -> OutboxMessageOut:
    """Put a dead message back in the queue with a fresh set of attempts; the
    worker delivers it as if new (a failed posting is posted, and its
    billing-operations work items close once it goes through). 409 unless the
    message is dead."""
    message = operations.retry_message(
        session, message_id, user=user, comment=body.comment, actor=actor, now=now
    )
    return OutboxMessageOut.of(message)


@router.post("/ops/outbox/{message_id}/cancel")
def cancel_message(
    message_id: int,
    body: CommentIn,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
    settings: AppSettings,
) -> OutboxMessageOut:
    """Cancel a pending or dead message so that it is never delivered.
    Cancelling a failed credit's posting voids the credit (with `comment` as
    the reason) and closes its billing-operations work items; cancelling a
    reversal (`credit.void`) makes its `voiding` credit `voided`, unreversed
    at the billing system. 409 for a
    delivered or cancelled message, one being delivered right now, or a
    posting still under way (with `credit_status`)."""
    message = operations.cancel_message(
        session,
        message_id,
        user=user,
        comment=body.comment,
        actor=actor,
        now=now,
        settings=settings,
    )
    return OutboxMessageOut.of(message)
