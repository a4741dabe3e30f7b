"""A credit's story for its page, from the audit trail and its work items.

Built only from what the viewer may see: audit entries pass through
``FieldView.entry_json`` (hidden fields' old and new values dropped, amounts
in free text withheld) and comments through ``FieldView.mask_text``, the same
masking as ``GET /credits/{id}/history``.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from creditdesk.access.fields import FieldView
from creditdesk.approvals.models import ApprovalStep, WorkItem, WorkItemKind
from creditdesk.audit import service as audit
from creditdesk.audit.schemas import AuditEntryOut
from creditdesk.credits.models import BillingCredit
from creditdesk.credits.service import History
from creditdesk.web.queries import names_of

# What each credit action reads as, for people.
_TITLES = {
    "credit.requested": "Requested",
    "credit.approval_requested": "Policy asked for approval",
    "credit.approved": "Approved",
    "credit.refused": "Refused by the policy",
    "credit.rejected": "Rejected",
    "credit.returned": "Returned for more information",
    "credit.recalled": "Recalled",
    "credit.posting_started": "Posting to the billing system",
    "credit.posted": "Posted",
    "credit.posting_failed": "Posting failed",
    "credit.applied": "Applied by the billing system",
    "credit.voided": "Voided",
    "credit.reversed": "Reversed at the billing system",
    "credit.shared": "Shared",
    "credit.share_revoked": "Share revoked",
    "approval.requested": "Approval requested",
    "approval.step_approved": "Approval step approved",
    "approval.step_rejected": "Approval step rejected",
    "approval.info_requested": "More information requested",
    "approval.sent_back": "Sent back to the previous step",
}

# What the policy decided when the credit was raised or resubmitted.
_POLICY_ACTIONS = {
    "credit.approved": "Approved at once by the policy",
    "credit.refused": "Refused by the policy",
    "credit.approval_requested": "Policy asked for approval",
}

# Change keys worth showing under an entry, and their labels.
_SHOWN_CHANGES = {
    "external_ref": "Billing reference",
    "last_error": "Error",
    "reversed_ref": "Reversal reference",
}

_ITEM_TITLES = {
    WorkItemKind.APPROVAL: "Approval",
    WorkItemKind.MORE_INFO: "More information asked of",
    WorkItemKind.REJECTED: "Rejection handed back to",
    WorkItemKind.POSTING_FAILED: "Failed posting handed to",
}


@dataclass(frozen=True, slots=True)
class Event:
    at: datetime
    title: str
    who: str | None
    details: list[str]
    order: int


def build(session: Session, found: History, view: FieldView) -> list[Event]:
    """The credit's events oldest first: its audit entries, its work items'
    assignments and decisions, and the case being resolved after it."""
    credit = found.credit
    entries = [view.entry_json(AuditEntryOut.of(e)) for e in found.entries]
    names = names_of(
        session,
        [e["actor_id"] for e in entries]
        + [i.assignee_id for i in found.items]
        + [i.decided_by_id for i in found.items],
    )
    events = [
        _from_entry(e, names, i, requester_id=credit.requested_by_id)
        for i, e in enumerate(entries)
    ]
    steps = {step.id: step for step in found.steps}
    events += _from_items(found.items, steps, names, view, start=len(events))
    events += _case_resolved(session, credit, start=len(events) * 2)
    return sorted(events, key=lambda e: (e.at, e.order))


def _from_entry(
    entry: dict[str, Any], names: dict[int, str], order: int, *, requester_id: int
) -> Event:
    action = entry["action"]
    title = _TITLES.get(action, action)
    if action in _POLICY_ACTIONS and entry["actor_id"] == requester_id:
        # Recorded as the requester's change, but the policy decided it.
        title = _POLICY_ACTIONS[action]
    details = []
    if entry.get("reason"):
        details.append(str(entry["reason"]))
    for key, text in _SHOWN_CHANGES.items():
        change = entry["changes"].get(key)
        if change and change[1]:
            details.append(f"{text}: {change[1]}")
    who = names.get(entry["actor_id"]) if entry["actor_id"] else entry["actor_name"]
    return Event(
        at=datetime.fromisoformat(entry["occurred_at"]),
        title=title,
        who=f"{who} (via {entry['channel']})",
        details=details,
        order=order,
    )


def _from_items(
    items: list[WorkItem],
    steps: dict[int, ApprovalStep],
    names: dict[int, str],
    view: FieldView,
    *,
    start: int,
) -> list[Event]:
    events = []
    for offset, item in enumerate(items):
        step = steps.get(item.step_id) if item.step_id is not None else None
        holder = names.get(item.assignee_id) if item.assignee_id else None
        holder = holder or f"the {item.queue_role} queue"
        title = _ITEM_TITLES[item.kind]
        if step is not None:
            title = f"Step {step.sequence} ({step.kind}) waiting for"
        events.append(
            Event(item.assigned_at, f"{title} {holder}", None, [], start + offset)
        )
        if item.decided_at is not None:
            decider = names.get(item.decided_by_id) if item.decided_by_id else None
            comment = view.mask_text(item.comment)
            outcome = item.status.value.replace("_", " ")
            what = f"Step {step.sequence}" if step is not None else "Handed-back work"
            events.append(
                Event(
                    item.decided_at,
                    f"{what}: {outcome}",
                    decider,
                    [comment] if comment else [],
                    start + offset,
                )
            )
    return events


def _case_resolved(
    session: Session, credit: BillingCredit, *, start: int
) -> list[Event]:
    entries = audit.entries_for(session, entity_type="case", entity_id=credit.case_id)
    return [
        Event(entry.occurred_at, "Case resolved", None, [], start + i)
        for i, entry in enumerate(entries)
        if entry.action == "case.resolved" and entry.occurred_at >= credit.created_at
    ]
