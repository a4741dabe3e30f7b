"""What the approvals pages read: the caller's work items in context.

The items come from ``approvals.actions.list_items``, the same query as
``GET /api/v1/work-items?assigned=me|queue``; each is shown with its credit
(shaped by ``access.fields``, so a hidden amount is left out), its case and
account, and the time left before it escalates. Cases, accounts, steps and
names are loaded for all rows at once, so the inbox costs the same few
queries however many items wait.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from creditdesk.access.fields import FieldView, view_for
from creditdesk.access.service import Permission, can
from creditdesk.accounts.models import Account
from creditdesk.approvals import actions, items
from creditdesk.approvals.actions import REASSIGNERS, Assigned, ItemFilters
from creditdesk.approvals.models import ApprovalStep, WorkItem, WorkItemKind
from creditdesk.cases.models import Case
from creditdesk.credits.models import BillingCredit
from creditdesk.credits.schemas import CreditOut
from creditdesk.errors import Forbidden, NotFound
from creditdesk.users.models import User
from creditdesk.web import credit_form, queries

# Items a section shows at once; a link pages on to the next ones.
INBOX_ROWS = 100


@dataclass(frozen=True, slots=True)
class Due:
    """When an item escalates, and how that reads for its holder."""

    at: datetime | None
    text: str
    overdue: bool


@dataclass(frozen=True, slots=True)
class WorkRow:
    """One work item as its page shows it."""

    item: WorkItem
    credit: CreditOut
    case: Case
    account: Account
    requester: str
    type_label: str | None
    reason_label: str | None
    step: str | None
    due: Due
    queued: bool  # open to a queue the caller is in, not claimed yet
    standing_in_for: str | None  # whose it was, when delegated or reassigned
    note: str | None  # the item's comment, amounts withheld as for the credit


@dataclass(frozen=True, slots=True)
class Page:
    """Where a section's page starts and where the next one would."""

    after: int | None  # the last item id before this page (None: the oldest)
    next_after: int | None  # None when no newer item waits


@dataclass(frozen=True, slots=True)
class Inbox:
    mine: list[WorkRow]
    queued: list[WorkRow]
    show_amount: bool
    show_justification: bool
    mine_page: Page = Page(None, None)
    queued_page: Page = Page(None, None)


def require_approvals_user(user: User) -> None:
    """The approvals pages are for people who decide or move approvals."""
    if can(user, Permission.DECIDE_APPROVALS) or user.role in REASSIGNERS:
        return
    raise Forbidden("the approvals inbox is for team leads, managers and finance")


def inbox(
    session: Session,
    user: User,
    now: datetime,
    *,
    mine_after: int | None = None,
    queued_after: int | None = None,
) -> Inbox:
    """The caller's pending approvals: theirs, then those in their queues,
    each section a page of INBOX_ROWS after the item id given for it."""
    view = view_for(session, user)
    mine, mine_page = _pending(session, user, Assigned.ME, mine_after)
    queued, queued_page = _pending(session, user, Assigned.QUEUE, queued_after)
    rows = shape(session, view, mine + queued, now, user=user)
    return Inbox(
        mine=rows[: len(mine)],
        queued=rows[len(mine) :],
        show_amount=view.can_read("amount"),
        show_justification=view.can_read("justification"),
        mine_page=mine_page,
        queued_page=queued_page,
    )


def _pending(
    session: Session, user: User, assigned: Assigned, after: int | None
) -> tuple[list[tuple[WorkItem, BillingCredit]], Page]:
    filters = ItemFilters(assigned=assigned, kind=WorkItemKind.APPROVAL)
    rows = actions.list_items(
        session, user=user, filters=filters, after_id=after, limit=INBOX_ROWS + 1
    )
    shown = rows[:INBOX_ROWS]
    more = len(rows) > INBOX_ROWS
    page = Page(after, shown[-1][0].id if more else None)
    # A queue may hold the caller's own credit when nobody else could take
    # it; a requester never sees their own credit as work to decide.
    return [(item, credit) for item, credit in shown if not _own(user, credit)], page


def _own(user: User, credit: BillingCredit) -> bool:
    return credit.requested_by_id == user.id


def approval_item(
    session: Session, user: User, item_id: int
) -> tuple[WorkItem, BillingCredit]:
    """An approval item the caller may see, with its credit; 404 otherwise,
    and for the requester of the credit, who never sees their own approvals."""
    item, credit = actions.load_item(session, user, item_id)
    if item.kind is not WorkItemKind.APPROVAL or _own(user, credit):
        raise NotFound(f"work item {item_id} does not exist")
    return item, credit


def load_row(session: Session, user: User, item_id: int, now: datetime) -> WorkRow:
    """One approval item in context, as its page shows it."""
    found = approval_item(session, user, item_id)
    (row,) = shape(session, view_for(session, user), [found], now, user=user)
    return row


@dataclass(frozen=True, slots=True)
class ItemActions:
    """What the caller may do with one item (the services judge again)."""

    decide: bool
    claim: bool
    reassign: bool


def actions_for(user: User, row: WorkRow) -> ItemActions:
    open_item = row.item.is_open
    decide = (
        open_item
        and items.holds(row.item, user)
        and can(user, Permission.DECIDE_APPROVALS)
    )
    return ItemActions(
        decide=decide,
        claim=decide and row.queued,
        reassign=open_item and user.role in REASSIGNERS,
    )


def shape(
    session: Session,
    view: FieldView,
    rows: Sequence[tuple[WorkItem, BillingCredit]],
    now: datetime,
    *,
    user: User,
) -> list[WorkRow]:
    """Rows with their cases, accounts, steps and names, read in bulk."""
    credits = [credit for _, credit in rows]
    cases = _cases_of(session, [c.case_id for c in credits])
    accounts = queries.accounts_of(session, [c.account_id for c in credits])
    steps = _steps_of(session, [i.step_id for i, _ in rows])
    names = queries.names_of(
        session,
        [c.requested_by_id for c in credits]
        + [i.original_assignee_id for i, _ in rows],
    )
    versions = {c.policy_version for c in credits}
    labels = {v: credit_form.labels(session, v) for v in versions}
    shaped = []
    for item, credit in rows:
        out = CreditOut.of(credit, view)
        names_of_version = labels[credit.policy_version]
        shaped.append(
            WorkRow(
                item=item,
                credit=out,
                case=cases[credit.case_id],
                account=accounts[credit.account_id],
                requester=names.get(credit.requested_by_id, ""),
                type_label=_label(names_of_version.types, out.type),
                reason_label=_label(names_of_version.reasons, out.reason),
                step=_step(steps.get(item.step_id or 0)),
                due=due(item.due_at, now),
                queued=item.queue_role is not None and item.claimed_at is None,
                standing_in_for=_standing_in_for(item, user, names),
                # A comment may quote an amount the reader may not see.
                note=view.mask_text(item.comment),
            )
        )
    return shaped


def _cases_of(session: Session, case_ids: Iterable[int]) -> dict[int, Case]:
    wanted = set(case_ids)
    if not wanted:
        return {}
    found = session.scalars(sa.select(Case).where(Case.id.in_(wanted)))
    return {case.id: case for case in found}


def _steps_of(
    session: Session, step_ids: Iterable[int | None]
) -> dict[int, ApprovalStep]:
    wanted = {i for i in step_ids if i is not None}
    if not wanted:
        return {}
    found = session.scalars(sa.select(ApprovalStep).where(ApprovalStep.id.in_(wanted)))
    return {step.id: step for step in found}


def _label(names: dict[str, str], code: str | None) -> str | None:
    if code is None:
        return None
    return names.get(code, code)


def _step(step: ApprovalStep | None) -> str | None:
    if step is None:
        return None
    return f"Step {step.sequence} ({step.kind})"


def _standing_in_for(item: WorkItem, user: User, names: dict[int, str]) -> str | None:
    original = item.original_assignee_id
    if original is None or original == user.id:
        return None
    return names.get(original)


def due(at: datetime | None, now: datetime) -> Due:
    """``3 h 20 min left``, ``Overdue by 45 min`` or ``No deadline``."""
    if at is None:
        return Due(None, "No deadline", overdue=False)
    seconds = int((at - now).total_seconds())
    if seconds <= 0:
        return Due(at, f"Overdue by {span(-seconds)}", overdue=True)
    return Due(at, f"{span(seconds)} left", overdue=False)


def span(seconds: int) -> str:
    """A duration in the two largest units people read: ``2 d 3 h``."""
    minutes = seconds // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return "less than a minute"
