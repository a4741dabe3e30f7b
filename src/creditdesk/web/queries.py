"""What the agent's pages read: a few queries each, visible rows only.

Every query is filtered by ``access.visibility`` in SQL, as the API's lists
are, and names are loaded for all rows at once, so a page costs the same few
queries however many rows it shows.
"""

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from creditdesk.access import visibility
from creditdesk.accounts.models import Account, Contract, ContractStatus
from creditdesk.approvals.actions import Assigned, ItemFilters, list_items
from creditdesk.approvals.guards import pending_for
from creditdesk.approvals.models import WorkItem, WorkItemKind
from creditdesk.cases.models import Case, CaseStatus
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.users.models import User
from creditdesk.web.forms import form_id

HOME_ROWS = 20
SEARCH_ROWS = 25
RECENT_CREDITS = 10
_OPEN_CASES = (CaseStatus.OPEN, CaseStatus.PENDING)
_HANDOFFS = (WorkItemKind.MORE_INFO, WorkItemKind.REJECTED)


def names_of(session: Session, user_ids: Iterable[int | None]) -> dict[int, str]:
    """Display names by user id, in one query."""
    wanted = {i for i in user_ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(
        sa.select(User.id, User.display_name).where(User.id.in_(wanted))
    )
    return dict(rows.all())


def accounts_of(session: Session, account_ids: Iterable[int]) -> dict[int, Account]:
    wanted = set(account_ids)
    if not wanted:
        return {}
    rows = session.scalars(sa.select(Account).where(Account.id.in_(wanted)))
    return {account.id: account for account in rows}


def my_open_cases(session: Session, user: User) -> list[Case]:
    """Open and pending cases the user owns, newest first."""
    query = (
        sa.select(Case)
        .where(Case.owner_id == user.id, Case.status.in_(_OPEN_CASES))
        .order_by(Case.id.desc())
        .limit(HOME_ROWS)
    )
    return list(session.scalars(query))


def my_credit_counts(session: Session, user: User) -> list[tuple[CreditStatus, int]]:
    """How many of the user's credits (raised by them or on their cases)
    are in each status, for the statuses that have any."""
    own_cases = sa.select(Case.id).where(Case.owner_id == user.id)
    query = (
        sa.select(BillingCredit.status, sa.func.count())
        .where(
            sa.or_(
                BillingCredit.requested_by_id == user.id,
                BillingCredit.case_id.in_(own_cases),
            ),
            visibility.credit_visible(session, user),
        )
        .group_by(BillingCredit.status)
    )
    counts = dict(session.execute(query).all())
    return [(status, counts[status]) for status in CreditStatus if status in counts]


def my_handoffs(session: Session, user: User) -> list[tuple[WorkItem, BillingCredit]]:
    """Credits handed back to the user: more information asked, or rejected."""
    found: list[tuple[WorkItem, BillingCredit]] = []
    for kind in _HANDOFFS:
        filters = ItemFilters(assigned=Assigned.ME, kind=kind)
        found += list_items(
            session, user=user, filters=filters, after_id=None, limit=HOME_ROWS
        )
    return sorted(found, key=lambda row: row[0].id)


def pending_approvals(session: Session, user: User) -> int:
    """How many approvals wait for the user (theirs or their queue's)."""
    return len(pending_for(session, user))


def search_cases(session: Session, user: User, text: str) -> list[Case]:
    """Visible cases whose number, subject, or account number or name match.

    ``CS-000012`` and ``12`` find case 12; anything else is matched, without
    regard to case, anywhere in the subject and the account's number and name.
    """
    query = sa.select(Case).join(Account, Account.id == Case.account_id)
    query = query.where(visibility.case_visible(session, user))
    text = text.strip()
    if text:
        query = query.where(_matching(text))
    query = query.order_by(Case.id.desc()).limit(SEARCH_ROWS)
    return list(session.scalars(query))


def _matching(text: str) -> sa.ColumnElement[bool]:
    pattern = f"%{_escape_like(text.lower())}%"
    clauses = [
        sa.func.lower(Case.subject).like(pattern, escape="\\"),
        sa.func.lower(Account.number).like(pattern, escape="\\"),
        sa.func.lower(Account.name).like(pattern, escape="\\"),
    ]
    number = form_id(text.upper().removeprefix("CS-"))
    if number is not None:
        clauses.append(Case.id == number)
    return sa.or_(*clauses)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True, slots=True)
class CaseContext:
    """What the case page shows beside the case itself."""

    account: Account
    contracts: list[Contract]
    case_credits: list[BillingCredit]
    account_credits: list[BillingCredit]
    names: dict[int, str]


# TODO(web-speed): `make bench --only web` measured 8-18 ms of processor time
# per page on SQLite (a loaded machine), over its 10 ms target; about a third
# of the case page is building access.visibility's predicates, which a
# per-request cache of line_below and the sharing rules would save.
def case_context(session: Session, user: User, case: Case) -> CaseContext:
    """The case's account, its active contracts, the case's credits and the
    account's recent credits, all as ``user`` may see them."""
    account = session.get_one(Account, case.account_id)
    contracts = list(
        session.scalars(
            sa.select(Contract)
            .where(
                Contract.account_id == account.id,
                Contract.status == ContractStatus.ACTIVE,
            )
            .order_by(Contract.id)
        )
    )
    visible = visibility.credit_visible(session, user)
    on_case = list(
        session.scalars(
            sa.select(BillingCredit)
            .where(BillingCredit.case_id == case.id, visible)
            .order_by(BillingCredit.id.desc())
        )
    )
    others = list(
        session.scalars(
            sa.select(BillingCredit)
            .where(
                BillingCredit.account_id == account.id,
                BillingCredit.case_id != case.id,
                visible,
            )
            .order_by(BillingCredit.id.desc())
            .limit(RECENT_CREDITS)
        )
    )
    names = names_of(session, [c.requested_by_id for c in on_case + others])
    names |= names_of(session, [case.owner_id])
    return CaseContext(account, contracts, on_case, others, names)
