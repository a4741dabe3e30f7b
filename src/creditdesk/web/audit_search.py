"""The audit page's search: the form read into the audit service's filters,
and entries shaped for the page as ``GET /api/v1/audit/entries`` shapes
them (``access.fields.audit_masker``: hidden fields' old and new values are
left out, amounts in reasons withheld, hashes withheld while anything is).

People type what they see: a credit or case number, a username, days.
"""

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from creditdesk.access.fields import audit_masker
from creditdesk.access.service import Permission, can
from creditdesk.audit.models import AuditEntry
from creditdesk.audit.schemas import AuditEntryOut
from creditdesk.credits.models import format_number, parse_number
from creditdesk.errors import DomainError, FieldIssue, ValidationFailed
from creditdesk.users import service as users
from creditdesk.users.models import User
from creditdesk.web.forms import form_id

PAGE_ROWS = 50
FIELDS = ("entity_type", "entity", "actor", "from", "to")
# What the datalist offers; any other type may still be typed.
ENTITY_TYPES = (
    "credit",
    "case",
    "account",
    "contract",
    "outbox_message",
    "reconciliation",
    "policy",
    "user",
    "team",
    "delegation",
    "sharing_rule",
    "field_permission",
    "event_subscription",
    "inbox_event",
)
_NUMBERED = {"BC-": "credit", "CS-": "case"}
# Where a record's page is, and who may open it (None: the page decides).
_LINKS: dict[str, tuple[str, Permission | None]] = {
    "credit": ("/credits/{}", None),
    "case": ("/cases/{}", None),
    "outbox_message": ("/ops/outbox/{}", Permission.OPERATE_OUTBOX),
    "reconciliation": ("/ops/reconciliations/{}", Permission.READ_RECONCILIATION),
}
_MAX_ID = 64


@dataclass(frozen=True, slots=True)
class Filters:
    """The audit service's search arguments, read from the form."""

    entity_type: str | None = None
    entity_id: str | None = None
    actor_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Change:
    field: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class Row:
    """One entry as the page shows it, already masked for the viewer."""

    seq: int
    occurred_at: datetime
    actor_name: str
    channel: str
    action: str
    entity_type: str
    entity_id: str
    entity_name: str
    link: str | None
    changes: list[Change]
    reason: str | None
    hash: str | None


def read_filters(session: Session, values: dict[str, str]) -> Filters:
    """The filters the form asks for, or ValidationFailed naming every field
    at fault (an unknown user, a bad date, a period ending before it starts)."""
    issues: list[FieldIssue] = []
    entity_type, entity_id = _entity(values["entity_type"], values["entity"], issues)
    actor_id = _actor(session, values["actor"], issues)
    start = _day(values["from"], "from", issues)
    end = _day(values["to"], "to", issues)
    if start and end and end < start:
        issues.append(FieldIssue("to", "the period ends before it starts"))
    if issues:
        raise ValidationFailed(issues[0].message, issues)

    return Filters(
        entity_type=entity_type,
        entity_id=entity_id,
        actor_id=actor_id,
        since=_midnight(start) if start else None,
        until=_midnight(end + timedelta(days=1)) if end else None,
    )


def rows_for(session: Session, user: User, entries: list[AuditEntry]) -> list[Row]:
    """The entries as ``user`` may see them (the API's masking)."""
    mask = audit_masker(session, user)
    links = {
        kind: path
        for kind, (path, permission) in _LINKS.items()
        if permission is None or can(user, permission)
    }
    rows = []
    for entry in entries:
        seen = mask(AuditEntryOut.of(entry))
        link = links.get(entry.entity_type)
        rows.append(
            Row(
                seq=entry.seq,
                occurred_at=entry.occurred_at,
                actor_name=entry.actor_name,
                channel=entry.channel,
                action=entry.action,
                entity_type=entry.entity_type,
                entity_id=entry.entity_id,
                entity_name=_name(entry.entity_type, entry.entity_id),
                link=link.format(entry.entity_id) if link else None,
                changes=[
                    Change(field, _shown(old), _shown(new))
                    for field, (old, new) in seen["changes"].items()
                ],
                reason=seen["reason"],
                hash=seen.get("hash"),
            )
        )
    return rows


def _entity(
    kind: str, reference: str, issues: list[FieldIssue]
) -> tuple[str | None, str | None]:
    kind, reference = kind.strip().lower() or None, reference.strip() or None
    if reference is None:
        return kind, None
    upper = reference.upper()
    for prefix, numbered in _NUMBERED.items():
        if upper.startswith(prefix):
            if kind not in (None, numbered):
                issues.append(
                    FieldIssue("entity", f"{reference} is a {numbered}, not a {kind}")
                )
            return numbered, _number(upper, prefix, reference, issues)
    if len(reference) > _MAX_ID:
        issues.append(FieldIssue("entity", f"at most {_MAX_ID} characters"))
    return kind, reference


def _number(
    upper: str, prefix: str, reference: str, issues: list[FieldIssue]
) -> str | None:
    number = parse_number(upper) if prefix == "BC-" else _case_number(upper)
    if number is None:
        issues.append(FieldIssue("entity", f"{reference} is not a valid number"))
        return None
    return str(number)


def _case_number(upper: str) -> int | None:
    return form_id(upper.removeprefix("CS-"))


def _actor(session: Session, text: str, issues: list[FieldIssue]) -> int | None:
    text = text.strip()
    if not text:
        return None
    user_id = form_id(text)
    if user_id is not None:
        return user_id
    try:
        return users.get_by_username(session, text).id
    except DomainError as exc:
        issues.append(FieldIssue("actor", exc.detail))
        return None


def _day(text: str, field: str, issues: list[FieldIssue]) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        issues.append(FieldIssue(field, "enter a date such as 2026-03-31"))
        return None


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _name(entity_type: str, entity_id: str) -> str:
    """A credit or case as people know it (BC-000042), else its id."""
    record_id = form_id(entity_id)
    if record_id is None:
        return entity_id
    if entity_type == "credit":
        return format_number(record_id)
    if entity_type == "case":
        return f"CS-{int(entity_id):06d}"
    return entity_id


def _shown(value: Any) -> str:
    """A change's value for people: text as it is, anything else as JSON."""
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
