"""Cases: opened by agents, resolved when their credits are settled."""

from datetime import datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from creditdesk.access import visibility
from creditdesk.accounts.models import Account
from creditdesk.actors import Actor
from creditdesk.audit import service as audit
from creditdesk.cases.models import Case, CaseStatus, CaseType
from creditdesk.config import Settings
from creditdesk.credits.models import FINAL_STATUSES, BillingCredit, CreditStatus
from creditdesk.errors import ValidationFailed
from creditdesk.events import service as events
from creditdesk.users.models import User

log = structlog.get_logger(__name__)


def get_case(session: Session, case_id: int, *, user: User) -> Case:
    """The case if ``user`` may see it; 404 otherwise, as for a missing one."""
    return visibility.load_case(session, user, case_id)


def create_case(
    session: Session,
    *,
    account_id: int,
    subject: str,
    type: CaseType,
    product: str | None,
    owner: User,
    actor: Actor,
    now: datetime,
    description: str | None = None,
    invoice_ref: str | None = None,
    disputed_amount_minor: int | None = None,
) -> Case:
    account = session.get(Account, account_id)
    if account is None:
        raise ValidationFailed.on("account_id", f"account {account_id} does not exist")
    if disputed_amount_minor is not None and disputed_amount_minor <= 0:
        raise ValidationFailed.on("disputed_amount", "must be greater than zero")

    case = Case(
        account_id=account.id,
        subject=subject,
        description=description,
        type=type,
        product=product,
        invoice_ref=invoice_ref,
        disputed_amount_minor=disputed_amount_minor,
        currency=account.currency,
        status=CaseStatus.OPEN,
        owner_id=owner.id,
        team_id=owner.team_id,
        opened_at=now,
    )
    session.add(case)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="case.opened",
        entity_type="case",
        entity_id=case.id,
        changes={
            "account_id": (None, account.id),
            "subject": (None, subject),
            "type": (None, type),
            "product": (None, product),
            "disputed_amount_minor": (None, disputed_amount_minor),
            "status": (None, CaseStatus.OPEN),
        },
        now=now,
    )
    return case


def list_cases(
    session: Session,
    *,
    user: User,
    status: CaseStatus | None,
    account_id: int | None,
    before_id: int | None,
    limit: int,
) -> list[Case]:
    """The cases ``user`` may see, newest first."""
    query = sa.select(Case).order_by(Case.id.desc()).limit(limit)
    query = query.where(visibility.case_visible(session, user))
    if status is not None:
        query = query.where(Case.status == status)
    if account_id is not None:
        query = query.where(Case.account_id == account_id)
    if before_id is not None:
        query = query.where(Case.id < before_id)
    return list(session.scalars(query))


# Asked after every posting: built once, bound per call.
_CREDIT_STATUSES = (
    sa.select(BillingCredit.status)
    .where(BillingCredit.case_id == sa.bindparam("case_id"))
    .distinct()
)


def resolve_if_settled(
    session: Session, case_id: int, *, actor: Actor, now: datetime, settings: Settings
) -> bool:
    """Resolve the case once every credit on it is final and one was applied.

    Returns whether the case was resolved by this call.
    """
    if not settings.resolve_case_when_settled:
        return False
    case = session.get(Case, case_id, with_for_update=True)
    if case is None or case.status in (CaseStatus.RESOLVED, CaseStatus.CLOSED):
        return False

    statuses = set(session.scalars(_CREDIT_STATUSES, {"case_id": case_id}))
    if not statuses or not statuses <= FINAL_STATUSES:
        return False
    if CreditStatus.APPLIED not in statuses:
        return False

    old = case.status
    case.status = CaseStatus.RESOLVED
    case.resolved_at = now
    audit.record(
        session,
        actor=actor,
        action="case.resolved",
        entity_type="case",
        entity_id=case.id,
        changes={"status": (old, CaseStatus.RESOLVED), "resolved_at": (None, now)},
        reason="every credit on the case is settled",
        now=now,
    )
    log.info("case.resolved", case_id=case.id)
    events.publish(
        session,
        event_type="case.resolved",
        data={
            "case_id": case.id,
            "number": case.number,
            "account_id": case.account_id,
            "resolved_at": now.isoformat(),
        },
        now=now,
    )
    return True


def mark_pending(
    session: Session, case_id: int, *, actor: Actor, now: datetime
) -> None:
    """A credit on the case awaits approval, so the case waits with it."""
    case = session.get(Case, case_id)
    if case is None or case.status is not CaseStatus.OPEN:
        return
    _move(
        session,
        case,
        CaseStatus.PENDING,
        "a credit on the case awaits approval",
        actor=actor,
        now=now,
    )


def after_credit_settled(
    session: Session, case_id: int, *, actor: Actor, now: datetime, settings: Settings
) -> None:
    """A credit on the case was rejected or withdrawn: resolve the case if all
    is settled, else give it back to the agent once nothing awaits approval."""
    if resolve_if_settled(session, case_id, actor=actor, now=now, settings=settings):
        return
    case = session.get(Case, case_id)
    if case is None or case.status is not CaseStatus.PENDING:
        return
    waiting = session.scalar(
        sa.select(BillingCredit.id)
        .where(
            BillingCredit.case_id == case_id,
            BillingCredit.status == CreditStatus.PENDING_APPROVAL,
        )
        .limit(1)
    )
    if waiting is None:
        _move(
            session,
            case,
            CaseStatus.OPEN,
            "no credit on the case awaits approval",
            actor=actor,
            now=now,
        )


def _move(
    session: Session,
    case: Case,
    status: CaseStatus,
    reason: str,
    *,
    actor: Actor,
    now: datetime,
) -> None:
    old = case.status
    case.status = status
    audit.record(
        session,
        actor=actor,
        action="case.reopened" if status is CaseStatus.OPEN else "case.pending",
        entity_type="case",
        entity_id=case.id,
        changes={"status": (old, status)},
        reason=reason,
        now=now,
    )
