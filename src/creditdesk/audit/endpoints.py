"""The audit trail over HTTP, for auditors and administrators."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from creditdesk.access.fields import audit_masker
from creditdesk.access.service import Permission, require
from creditdesk.api.deps import CurrentUser, ReadSession
from creditdesk.api.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Page,
    decode_cursor,
    next_cursor,
)
from creditdesk.audit import service
from creditdesk.audit.schemas import AuditEntryOut, VerifyOut
from creditdesk.errors import ValidationFailed

router = APIRouter(tags=["audit"])


@router.get("/audit/verify")
def verify_chain(session: ReadSession, user: CurrentUser) -> VerifyOut:
    """Check every entry's hash and link, and the chain head.

    Answers 200 whether or not the chain is intact: ``ok`` says which, and a
    broken chain names the first bad ``seq`` and the problem found there.
    """
    require(user, Permission.VERIFY_AUDIT)
    # One process: a request handler should not fork workers.
    return VerifyOut.of(service.verify(session.get_bind(), workers=1))


@router.get("/audit/entries", response_model=Page[AuditEntryOut])
def list_entries(
    session: ReadSession,
    user: CurrentUser,
    entity_type: str | None = None,
    entity_id: str | None = None,
    actor_id: int | None = None,
    since: Annotated[datetime | None, Query(description="inclusive, with zone")] = None,
    until: Annotated[datetime | None, Query(description="exclusive, with zone")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> JSONResponse:
    """Audit entries matching every filter given, newest first. Old and new
    values of fields hidden from your role are left out of ``changes``, and
    while anything is hidden from you, so are ``hash`` and ``prev_hash``.

    Pass ``next_cursor`` back as ``cursor`` for the next page.
    """
    require(user, Permission.VERIFY_AUDIT)
    entries = service.search(
        session,
        entity_type=entity_type,
        entity_id=entity_id,
        actor_id=actor_id,
        since=_aware("since", since),
        until=_aware("until", until),
        limit=limit,
        before_seq=decode_cursor(cursor),
    )
    render = audit_masker(session, user)
    page = {
        "items": [render(AuditEntryOut.of(entry)) for entry in entries],
        "next_cursor": next_cursor([entry.seq for entry in entries], limit),
    }
    return JSONResponse(page)


def _aware(name: str, moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        raise ValidationFailed.on(name, "give a time zone, e.g. 2026-01-31T09:00:00Z")
    return moment
