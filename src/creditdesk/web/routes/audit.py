"""The audit log: search by record, actor and days, newest first, and
verifying the hash chain. Auditors and administrators, as in the API."""

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from creditdesk.access.service import Permission, can, require
from creditdesk.api.deps import ReadSession
from creditdesk.api.pagination import decode_cursor, encode_cursor, next_cursor
from creditdesk.audit import service as audit
from creditdesk.audit.schemas import VerifyOut
from creditdesk.auth.scopes import READ, needs
from creditdesk.errors import DomainError
from creditdesk.users.models import User
from creditdesk.web import audit_search
from creditdesk.web.deps import Form, WebUser
from creditdesk.web.forms import field_errors
from creditdesk.web.render import render

router = APIRouter(include_in_schema=False)


@router.get("/audit")
def audit_page(
    request: Request,
    session: ReadSession,
    user: WebUser,
    entity_type: str = "",
    entity: str = "",
    actor: str = "",
    cursor: str = "",
) -> Response:
    """Entries matching every filter given, newest first, a page at a time;
    ``from`` and ``to`` are days (UTC), both inclusive."""
    require(user, Permission.VERIFY_AUDIT)
    values = {
        "entity_type": entity_type,
        "entity": entity,
        "actor": actor,
        "from": request.query_params.get("from", ""),
        "to": request.query_params.get("to", ""),
    }
    return _render(request, session, user, values, cursor=cursor)


@router.post("/audit/verify", **needs(READ))
def verify_chain(
    request: Request, form: Form, session: ReadSession, user: WebUser
) -> Response:
    """Check every entry's hash and link and the chain head (it reads the
    whole chain, so it is a button rather than part of the page). The form
    carries the search shown, which is shown again with the result."""
    require(user, Permission.VERIFY_AUDIT)
    # One process: a request handler should not fork workers.
    # TODO(web-verify): a chain of millions keeps the browser waiting while it
    # is read; a worker job writing its result for this page to show would fix it.
    verified = VerifyOut.of(audit.verify(session.get_bind(), workers=1))
    values = {name: form.get(name, "") for name in audit_search.FIELDS}
    return _render(request, session, user, values, verified=verified)


def _render(
    request: Request,
    session: Session,
    user: User,
    values: dict[str, str],
    *,
    cursor: str = "",
    verified: VerifyOut | None = None,
) -> Response:
    errors: dict[str, str] = {}
    rows: list[audit_search.Row] = []
    older = None
    try:
        filters = audit_search.read_filters(session, values)
        entries = audit.search(
            session,
            entity_type=filters.entity_type,
            entity_id=filters.entity_id,
            actor_id=filters.actor_id,
            since=filters.since,
            until=filters.until,
            limit=audit_search.PAGE_ROWS,
            before_seq=decode_cursor(cursor),
        )
        rows = audit_search.rows_for(session, user, entries)
        older = next_cursor([entry.seq for entry in entries], audit_search.PAGE_ROWS)
    except DomainError as exc:
        errors = field_errors(exc, known=frozenset(audit_search.FIELDS))

    kept = {name: value for name, value in values.items() if value}
    return render(
        request,
        "audit/audit.html",
        status_code=422 if errors else 200,
        values=values,
        errors=errors,
        rows=rows,
        older=f"/audit?{urlencode({**kept, 'cursor': older})}" if older else None,
        searched=bool(kept),
        verified=verified,
        bad_link=_bad_link(verified),
        entity_types=audit_search.ENTITY_TYPES,
        may_read_runs=can(user, Permission.READ_RECONCILIATION),
    )


def _bad_link(verified: VerifyOut | None) -> str | None:
    """The search page starting at the first bad entry, when there is one."""
    if verified is None or verified.first_bad_seq is None:
        return None
    seq = verified.first_bad_seq
    return f"/audit?cursor={encode_cursor(seq + 1)}#entry-{seq}"
