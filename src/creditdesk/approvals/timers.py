"""Reminders before a deadline and escalation after it, run by the worker.

Each pass takes a bounded batch in its own transaction. On PostgreSQL the
rows are locked with SKIP LOCKED, so several workers share the work; each
item is re-read under its credit's lock before it changes, so a decision
made a moment earlier wins over the timer.
"""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.actors import Actor, Channel
from creditdesk.approvals import assign, items, notices
from creditdesk.approvals.models import WorkItem, WorkItemKind, WorkItemStatus
from creditdesk.audit import service as audit
from creditdesk.config import Settings
from creditdesk.credits import lifecycle
from creditdesk.credits.models import BillingCredit
from creditdesk.db import is_postgres, read_only, transaction
from creditdesk.policy.chains import Approver
from creditdesk.users.models import User

log = structlog.get_logger(__name__)

TIMER_ACTOR = Actor.system(Channel.WORKER, name="timers")
BATCH = 100


@dataclass(frozen=True, slots=True)
class TimerRun:
    reminded: int
    escalated: int


def run_due(
    session_factory: sessionmaker[Session], *, now: datetime, settings: Settings
) -> TimerRun:
    """Send the reminders and escalate the items whose time has come."""
    if not _anything_due(session_factory, now):
        return TimerRun(0, 0)
    with transaction(session_factory) as session:
        due = _due_reminders(session, now)
        reminded = sum(_remind(session, item, now, settings) for item in due)
    with transaction(session_factory) as session:
        overdue = _overdue(session, now)
        escalated = sum(_escalate(session, item, now, settings) for item in overdue)
    if reminded or escalated:
        log.info("approval.timers_ran", reminded=reminded, escalated=escalated)
    return TimerRun(reminded, escalated)


def _anything_due(session_factory: sessionmaker[Session], now: datetime) -> bool:
    # The worker asks after every batch; on SQLite a write transaction would
    # take the database's write lock each time, so look first, read-only.
    reminder = sa.and_(WorkItem.remind_at <= now, WorkItem.reminded_at.is_(None))
    overdue = sa.and_(WorkItem.kind == WorkItemKind.APPROVAL, WorkItem.due_at <= now)
    query = (
        sa.select(WorkItem.id)
        .where(WorkItem.status == WorkItemStatus.PENDING, sa.or_(reminder, overdue))
        .limit(1)
    )
    with session_factory() as session:
        read_only(session)
        return session.scalar(query) is not None


def _locked(session: Session, query: sa.Select) -> list[WorkItem]:
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query.order_by(WorkItem.id).limit(BATCH)))


def _due_reminders(session: Session, now: datetime) -> list[WorkItem]:
    return _locked(
        session,
        sa.select(WorkItem).where(
            WorkItem.status == WorkItemStatus.PENDING,
            WorkItem.remind_at <= now,
            WorkItem.reminded_at.is_(None),
        ),
    )


def _overdue(session: Session, now: datetime) -> list[WorkItem]:
    return _locked(
        session,
        sa.select(WorkItem).where(
            WorkItem.status == WorkItemStatus.PENDING,
            WorkItem.kind == WorkItemKind.APPROVAL,
            WorkItem.due_at <= now,
        ),
    )


def _remind(
    session: Session, item: WorkItem, now: datetime, settings: Settings
) -> bool:
    credit = session.get(BillingCredit, item.credit_id)
    item.reminded_at = now
    notices.reminder(session, item, credit, now=now, settings=settings)
    audit.record(
        session,
        actor=TIMER_ACTOR,
        action="work_item.reminded",
        entity_type="credit",
        entity_id=item.credit_id,
        changes={"work_item": (None, item.id), "due_at": (None, item.due_at)},
        now=now,
    )
    return True


def _escalate(
    session: Session, item: WorkItem, now: datetime, settings: Settings
) -> bool:
    credit = lifecycle.load_for_update(session, item.credit_id)
    session.refresh(item)
    step = item.step
    if not item.is_open or item.due_at is None or item.due_at > now or step is None:
        return False

    holder = session.get(User, item.assignee_id) if item.assignee_id else None
    target = Approver.model_validate(step.config["escalate_to"])
    found = assign.targets(
        session,
        target,
        credit=credit,
        step=step,
        holder=holder,
        now=now,
        origin="escalated",
    )
    fresh = _not_yet_holding(session, item, found)
    if not fresh:
        # Everyone it could go to already has it: escalating again would only
        # repeat itself, so the item waits without a deadline.
        item.due_at = None
        log.warning("approval.escalation_exhausted", work_item_id=item.id)
        return False

    items.close(item, WorkItemStatus.ESCALATED, now=now)
    new_items = items.open_items(
        session,
        credit=credit,
        kind=WorkItemKind.APPROVAL,
        found=fresh,
        step=step,
        escalated=True,
        actor=TIMER_ACTOR,
        now=now,
        settings=settings,
    )
    audit.record(
        session,
        actor=TIMER_ACTOR,
        action="work_item.escalated",
        entity_type="credit",
        entity_id=credit.id,
        changes={
            "work_item": (item.id, [new.id for new in new_items]),
            "assignee_id": (item.assignee_id, [new.assignee_id for new in new_items]),
        },
        reason=f"not decided by {item.due_at.isoformat()}",
        now=now,
    )
    return True


def _not_yet_holding(
    session: Session, item: WorkItem, found: list[assign.Target]
) -> list[assign.Target]:
    held = {(item.assignee_id, item.queue_role)}
    held |= {(o.assignee_id, o.queue_role) for o in items.open_siblings(session, item)}
    held_people = {user_id for user_id, _ in held if user_id is not None}
    fresh = []
    for target in found:
        if target.user is not None and target.user.id in held_people:
            continue
        if target.user is None and (None, target.queue_role) in held:
            continue
        fresh.append(target)
    return fresh
