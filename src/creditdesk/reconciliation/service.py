"""Reconcile a billing system's credit memos with our credits for a period.

Our side is read once into compact indexes (by idempotency key and by
external reference); the vendor's memos then stream through page by page,
so memory grows with our credits, not with the vendor's answer. Each memo is
matched, mismatched (amount, currency or account differ) or untracked (no
credit here); afterwards every credit approved in the period that no memo
matched is missing. Matches are counted; discrepancies are stored.
"""

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.access.service import Permission, require
from creditdesk.accounts.models import Account, BillingSystem
from creditdesk.actors import Actor
from creditdesk.audit import service as audit
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.db import read_only, transaction
from creditdesk.errors import DomainError, NotFound, ValidationFailed
from creditdesk.outbox.errors import PermanentError, TransientError
from creditdesk.outbox.models import OutboxMessage
from creditdesk.reconciliation.matching import Ours, match, missing_finding
from creditdesk.reconciliation.models import (
    FindingKind,
    ReconciliationFinding,
    ReconciliationRun,
    RunStatus,
)
from creditdesk.reconciliation.sources import MemoSource
from creditdesk.users.models import User

log = structlog.get_logger(__name__)

POST_TOPIC = "credit.post"
# Approved here: these should have reached the billing system.
APPROVED_STATES = frozenset(
    {
        CreditStatus.APPROVED,
        CreditStatus.POSTING,
        CreditStatus.POSTED,
        CreditStatus.APPLIED,
        CreditStatus.POSTING_FAILED,
    }
)
MAX_PERIOD_DAYS = 366
_BATCH = 5_000

Progress = Callable[[int], None]


class BillingSystemFailed(DomainError):
    """The billing system refused the listing or did not answer it."""

    status = 502
    type_slug = "billing-system-failed"
    title = "The billing system could not be read"


def check_period(start: date, end: date) -> None:
    if end < start:
        raise ValidationFailed.on("to", "the period ends before it starts")
    if (end - start).days >= MAX_PERIOD_DAYS:
        raise ValidationFailed.on(
            "to", f"a period spans at most {MAX_PERIOD_DAYS} days"
        )


def reconcile(
    session_factory: sessionmaker[Session],
    *,
    system: BillingSystem,
    source: MemoSource,
    start: date,
    end: date,
    user: User | None,
    actor: Actor,
    now: Callable[[], datetime],
    progress: Progress | None = None,
) -> int:
    """Run a reconciliation and store it; returns the run's id."""
    check_period(start, end)
    if user is not None:
        require(user, Permission.RUN_RECONCILIATION)
    run_id = _open_run(session_factory, system, start, end, user, actor, now())
    try:
        counts = _compare(session_factory, run_id, system, source, start, end, progress)
    except (TransientError, PermanentError) as exc:
        # A vendor that is down or refuses is expected now and then: the
        # caller is told which run failed and why, not handed a 500.
        _close_run(session_factory, run_id, now(), error=str(exc)[:2000])
        raise BillingSystemFailed(
            f"reconciliation {run_id} failed: {exc}", extra={"run_id": run_id}
        ) from exc
    except Exception as exc:
        _close_run(session_factory, run_id, now(), error=str(exc)[:2000])
        raise
    _close_run(session_factory, run_id, now(), counts=counts, actor=actor)
    return run_id


def _open_run(
    session_factory: sessionmaker[Session],
    system: BillingSystem,
    start: date,
    end: date,
    user: User | None,
    actor: Actor,
    started: datetime,
) -> int:
    with transaction(session_factory) as session:
        run = ReconciliationRun(
            system=system.value,
            period_start=start,
            period_end=end,
            status=RunStatus.RUNNING,
            started_by_id=user.id if user else None,
            actor_name=actor.name[:100],
            started_at=started,
        )
        session.add(run)
        session.flush()
        return run.id


def _compare(
    session_factory: sessionmaker[Session],
    run_id: int,
    system: BillingSystem,
    source: MemoSource,
    start: date,
    end: date,
    progress: Progress | None,
) -> dict[str, int]:
    with session_factory() as session:
        read_only(session)
        ours, by_key, by_ref = _our_side(session, system, start, end)

    counts = {"vendor_memos": 0, "matched": 0, "untracked": 0, "mismatched": 0}
    pending: list[dict[str, Any]] = []
    for page in source.memos(start, end):
        for memo in page:
            finding = match(memo, ours, by_key, by_ref, counts)
            if finding is not None:
                pending.append(finding)
        counts["vendor_memos"] += len(page)
        if len(pending) >= _BATCH:
            _store(session_factory, run_id, pending)
            pending = []
        if progress is not None:
            progress(len(page))

    missing = [missing_finding(c) for c in ours.values() if c.is_missing]
    counts["missing"] = len(missing)
    _store(session_factory, run_id, pending + missing)
    return counts


def _our_side(
    session: Session, system: BillingSystem, start: date, end: date
) -> tuple[dict[int, Ours], dict[str, int], dict[str, int]]:
    """Every approved credit of the system's accounts, and the indexes."""
    period_start = datetime.combine(start, time.min, tzinfo=UTC)
    period_end = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)
    account_ref = (
        Account.number
        if system is BillingSystem.LEDGER
        else (Account.external_account_id)
    )
    rows = session.execute(
        sa.select(
            BillingCredit.id,
            BillingCredit.amount_minor,
            BillingCredit.currency,
            account_ref,
            BillingCredit.external_ref,
            BillingCredit.decided_at,
            BillingCredit.status,
        )
        .join(Account, Account.id == BillingCredit.account_id)
        .where(
            Account.billing_system == system,
            BillingCredit.status.in_(
                [*APPROVED_STATES, CreditStatus.VOIDING, CreditStatus.VOIDED]
            ),
        )
        .execution_options(yield_per=50_000)
    )
    ours: dict[int, Ours] = {}
    by_ref: dict[str, int] = {}
    for credit_id, amount, currency, ref, external, decided, status in rows:
        in_period = decided is not None and period_start <= decided < period_end
        ours[credit_id] = Ours(
            credit_id,
            amount,
            currency,
            ref,
            external,
            in_period and status in APPROVED_STATES,
            str(status),
        )
        if external:
            by_ref[external] = credit_id
    return ours, _keys(session, ours), by_ref


def _keys(session: Session, ours: dict[int, Ours]) -> dict[str, int]:
    """The outbox key each credit was posted under (``outbox-<id>``)."""
    rows = session.execute(
        sa.select(OutboxMessage.id, OutboxMessage.payload)
        .where(OutboxMessage.topic == POST_TOPIC)
        .execution_options(yield_per=50_000)
    )
    keys: dict[str, int] = {}
    for message_id, payload in rows:
        credit_id = payload.get("credit_id") if isinstance(payload, dict) else None
        if credit_id in ours:
            keys[f"outbox-{message_id}"] = credit_id
    return keys


def _store(
    session_factory: sessionmaker[Session],
    run_id: int,
    findings: Iterable[dict[str, Any]],
) -> None:
    rows = [{"run_id": run_id, **finding} for finding in findings]
    if not rows:
        return
    with transaction(session_factory) as session:
        session.execute(sa.insert(ReconciliationFinding), rows)


def _close_run(
    session_factory: sessionmaker[Session],
    run_id: int,
    finished: datetime,
    *,
    counts: dict[str, int] | None = None,
    error: str | None = None,
    actor: Actor | None = None,
) -> None:
    with transaction(session_factory) as session:
        run = session.get_one(ReconciliationRun, run_id)
        run.finished_at = finished
        if error is not None:
            run.status = RunStatus.FAILED
            run.error = error
            log.warning("reconciliation.failed", run_id=run_id, error=error)
            return
        run.status = RunStatus.COMPLETED
        for name, value in (counts or {}).items():
            setattr(run, name, value)
        if actor is not None:
            audit.record(
                session,
                actor=actor,
                action="reconciliation.completed",
                entity_type="reconciliation",
                entity_id=run_id,
                changes={name: (None, value) for name, value in (counts or {}).items()},
                now=finished,
            )
    log.info("reconciliation.completed", run_id=run_id, **(counts or {}))


def get_run(session: Session, *, user: User, run_id: int) -> ReconciliationRun:
    require(user, Permission.READ_RECONCILIATION)
    run = session.get(ReconciliationRun, run_id)
    if run is None:
        raise NotFound(f"reconciliation {run_id} does not exist")
    return run


def list_runs(
    session: Session, *, user: User, limit: int = 50
) -> list[ReconciliationRun]:
    require(user, Permission.READ_RECONCILIATION)
    query = sa.select(ReconciliationRun).order_by(ReconciliationRun.id.desc())
    return list(session.scalars(query.limit(limit)))


def findings(
    session: Session,
    *,
    user: User,
    run_id: int,
    kind: FindingKind | None = None,
) -> Iterable[ReconciliationFinding]:
    """The run's discrepancies in the order they were found, streamed."""
    get_run(session, user=user, run_id=run_id)
    query = sa.select(ReconciliationFinding).where(
        ReconciliationFinding.run_id == run_id
    )
    if kind is not None:
        query = query.where(ReconciliationFinding.kind == kind)
    query = query.order_by(ReconciliationFinding.id).execution_options(yield_per=2_000)
    return session.scalars(query)
