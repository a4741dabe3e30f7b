"""Billing operations: failed postings, dead letters, and retrying or
cancelling an outbox message through the same service as
``POST /api/v1/ops/outbox/{id}/retry|cancel`` (finance and admins)."""

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from creditdesk.access.fields import view_for
from creditdesk.api.deps import AppSettings, DbSession, Now, ReadSession
from creditdesk.api.pagination import decode_cursor, next_cursor
from creditdesk.audit import service as audit
from creditdesk.errors import DomainError
from creditdesk.outbox import operations
from creditdesk.outbox.schemas import CommentIn
from creditdesk.outbox.service import ENTITY_TYPE
from creditdesk.users.models import User
from creditdesk.web import ops_queries
from creditdesk.web.deps import Form, WebActor, WebUser, safe_next
from creditdesk.web.forms import field_errors, parse
from creditdesk.web.queries import names_of
from creditdesk.web.render import flash, render, secure

router = APIRouter(include_in_schema=False)

_ACTION_FIELDS = frozenset({"comment"})


@router.get("/ops")
def ops_home(
    request: Request,
    session: ReadSession,
    user: WebUser,
    topic: str = "",
    cursor: str = "",
) -> Response:
    """Failed postings and the dead letters (filtered by topic, paged by
    cursor, newest first), each with its last error and what to do."""
    operations.require_operator(user)
    errors: dict[str, str] = {}
    if topic and topic not in ops_queries.TOPICS:
        errors["topic"] = f"there is no topic {topic!r}; choose one from the list"
    chosen = topic if topic in ops_queries.TOPICS else None

    view = view_for(session, user)
    dead = ops_queries.dead_letters(
        session, user, topic=chosen, before_id=decode_cursor(cursor)
    )
    failed = ops_queries.failed_postings(session, user, view)
    return render(
        request,
        "ops/ops.html",
        status_code=422 if errors else 200,
        failed=failed,
        failed_rows=ops_queries.FAILED_ROWS,
        dead=dead,
        links=ops_queries.credit_links(session, user, dead),
        topic_options=[("", "All topics")] + [(t, t) for t in ops_queries.TOPICS],
        topic=chosen or "",
        older=next_cursor([m.id for m in dead], ops_queries.DEAD_ROWS),
        show_amount=view.can_read("amount"),
        show_error=view.can_read("last_error"),
        errors=errors,
        back=_here(request),
        retryable=ops_queries.RETRYABLE,
        cancellable=ops_queries.CANCELLABLE,
    )


@router.get("/ops/outbox/{message_id}")
def message_page(
    message_id: int, request: Request, session: ReadSession, user: WebUser
) -> Response:
    """One message: its payload, attempts, last error, the credit it
    concerns and what billing operations did with it so far."""
    return _render_message(request, session, user, message_id)


@router.post("/ops/outbox/{message_id}/retry")
def retry(
    message_id: int,
    request: Request,
    form: Form,
    session: DbSession,
    user: WebUser,
    actor: WebActor,
    now: Now,
) -> Response:
    """Put a dead message back in the queue (audited, channel web)."""
    try:
        comment = _comment(form)
        operations.retry_message(
            session, message_id, user=user, comment=comment, actor=actor, now=now
        )
    except DomainError as exc:
        return _refused(request, session, user, message_id, exc)
    return _done(request, form, f"Message {message_id} is queued again.")


@router.post("/ops/outbox/{message_id}/cancel")
def cancel(
    message_id: int,
    request: Request,
    form: Form,
    session: DbSession,
    user: WebUser,
    actor: WebActor,
    now: Now,
    settings: AppSettings,
) -> Response:
    """Cancel a pending or dead message for good; a failed posting's credit
    is voided with the reason given (audited, channel web)."""
    try:
        comment = _comment(form)
        operations.cancel_message(
            session,
            message_id,
            user=user,
            comment=comment,
            actor=actor,
            now=now,
            settings=settings,
        )
    except DomainError as exc:
        return _refused(request, session, user, message_id, exc)
    return _done(request, form, f"Message {message_id} is cancelled.")


def _comment(form: dict[str, str]) -> str:
    """The reason, checked as the API checks it (CommentIn)."""
    return parse(CommentIn, {"comment": form.get("comment", "")}).comment


def _refused(
    request: Request, session: Session, user: User, message_id: int, exc: DomainError
) -> Response:
    # Who may not, or what does not exist, is the error page; a reason
    # missing or a message in the wrong state is shown on the message's page.
    if exc.status in (403, 404):
        raise exc
    session.rollback()
    errors = field_errors(exc, known=_ACTION_FIELDS)
    return _render_message(
        request, session, user, message_id, errors=errors, status_code=exc.status
    )


def _done(request: Request, form: dict[str, str], message: str) -> Response:
    target = safe_next(form.get("next"))
    response = secure(RedirectResponse(target, status_code=303))
    return flash(request, response, message)


def _render_message(
    request: Request,
    session: Session,
    user: User,
    message_id: int,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    message = operations.get_message(session, message_id, user=user)
    history = audit.entries_for(session, entity_type=ENTITY_TYPE, entity_id=message.id)
    return render(
        request,
        "ops/message.html",
        status_code=status_code,
        message=message,
        payload=ops_queries.payload_text(message),
        credit=ops_queries.credit_links(session, user, [message]).get(message.id),
        history=history,
        names=names_of(session, [entry.actor_id for entry in history]),
        errors=errors or {},
        back=f"/ops/outbox/{message.id}",
        retryable=ops_queries.RETRYABLE,
        cancellable=ops_queries.CANCELLABLE,
    )


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")
