"""What the policy needs to know about a credit, read from the database.

The contract and the rolling totals are read in one query, run on every
credit raised: built once with bind parameters (only the values change per
call) and, being plain columns, run on the session's connection, below the
ORM.
"""

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from creditdesk.accounts.models import Account, Contract, ContractStatus
from creditdesk.cases.models import Case
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.policy.engine import ContractFacts, CreditFacts
from creditdesk.policy.schemas import Policy

# Credits in these states no longer count against caps or as duplicates.
DEAD_STATUSES = (
    CreditStatus.REFUSED,
    CreditStatus.REJECTED,
    CreditStatus.RECALLED,
    CreditStatus.VOIDED,
)


def gather(
    session: Session,
    *,
    case: Case,
    account: Account,
    requester_role: str,
    amount_minor: int,
    currency: str,
    credit_type: str,
    reason: str,
    now: datetime,
    exclude_credit_id: int | None = None,
    policy: Policy,
) -> CreditFacts:
    """Read what the policy needs about a credit that is about to be judged."""
    contract, recent_total, near_duplicate = _read(
        session,
        account_id=account.id,
        product=case.product,
        amount_minor=amount_minor,
        currency=currency,
        reason=reason,
        now=now,
        exclude_credit_id=exclude_credit_id,
        policy=policy,
    )

    # A disputed amount in another currency cannot bound this credit.
    disputed = case.disputed_amount_minor if case.currency == currency else None
    return CreditFacts(
        amount_minor=amount_minor,
        currency=currency,
        credit_type=credit_type,
        reason=reason,
        requester_role=str(requester_role),
        account_status=str(account.status),
        case_status=str(case.status),
        case_product=case.product,
        disputed_amount_minor=disputed,
        contract=contract,
        recent_total_minor=recent_total,
        near_duplicate=near_duplicate,
    )


def _active_contract_query() -> sa.Subquery:
    # A case without a product binds NULL, which matches no contract.
    return (
        sa.select(
            Contract.id,
            Contract.product,
            Contract.credit_types,
            Contract.credit_cap_minor,
        )
        .where(
            Contract.account_id == sa.bindparam("account_id"),
            Contract.product == sa.bindparam("product"),
            Contract.status == ContractStatus.ACTIVE,
            Contract.starts_on <= sa.bindparam("today"),
            sa.or_(
                Contract.ends_on.is_(None), Contract.ends_on >= sa.bindparam("today")
            ),
        )
        # Overlapping contracts: the most recently started one governs.
        .order_by(Contract.starts_on.desc(), Contract.id.desc())
        .limit(1)
        .subquery("contract")
    )


def _recent_credits_query() -> sa.Subquery:
    credit = BillingCredit
    in_cap_window = credit.created_at >= sa.bindparam("cap_start")
    is_duplicate = sa.and_(
        credit.created_at >= sa.bindparam("duplicate_start"),
        credit.amount_minor == sa.bindparam("amount_minor"),
        credit.reason == sa.bindparam("reason"),
    )
    return (
        sa.select(
            sa.func.coalesce(
                sa.func.sum(sa.case((in_cap_window, credit.amount_minor), else_=0)), 0
            ).label("total"),
            sa.func.coalesce(sa.func.max(sa.case((is_duplicate, 1), else_=0)), 0).label(
                "duplicate"
            ),
        )
        .where(
            credit.account_id == sa.bindparam("account_id"),
            credit.created_at >= sa.bindparam("window_start"),
            credit.currency == sa.bindparam("currency"),
            credit.status.not_in(DEAD_STATUSES),
            # -1 when nothing is excluded: ids are positive.
            credit.id != sa.bindparam("exclude_id"),
        )
        .subquery("recent")
    )


def _facts_query() -> sa.Select[Any]:
    """The rolling totals (always one row, being an aggregate) beside the
    active contract, if any: one round trip for every credit judged."""
    recent, contract = _recent_credits_query(), _active_contract_query()
    return sa.select(
        recent.c.total,
        recent.c.duplicate,
        contract.c.id,
        contract.c.product,
        contract.c.credit_types,
        contract.c.credit_cap_minor,
    ).select_from(recent.outerjoin(contract, sa.true()))


# Run on every credit raised: built once, bound per call.
_FACTS = _facts_query()


def _read(
    session: Session,
    *,
    account_id: int,
    product: str | None,
    amount_minor: int,
    currency: str,
    reason: str,
    now: datetime,
    exclude_credit_id: int | None,
    policy: Policy,
) -> tuple[ContractFacts | None, int, bool]:
    """The active contract for ``product``, the rolling-window total and
    whether a near duplicate exists, in one query."""
    eligibility = policy.eligibility
    cap_start = now - timedelta(days=eligibility.rolling_cap_days)
    duplicate_start = now - timedelta(days=eligibility.near_duplicate_days)

    # Below the ORM, so nothing pending is flushed first: a credit being
    # judged again is left out by its id, and nothing else is pending here.
    row = (
        session.connection()
        .execute(
            _FACTS,
            {
                "cap_start": cap_start,
                "duplicate_start": duplicate_start,
                "window_start": min(cap_start, duplicate_start),
                "amount_minor": amount_minor,
                "reason": reason,
                "account_id": account_id,
                "currency": currency,
                "exclude_id": -1 if exclude_credit_id is None else exclude_credit_id,
                "product": product,
                "today": now.date(),
            },
        )
        .one()
    )
    total, duplicate, contract_id, contract_product, credit_types, cap = row
    contract = None
    if contract_id is not None:
        contract = ContractFacts(
            id=contract_id,
            product=contract_product,
            credit_types=credit_types,
            cap_minor=cap,
        )
    return contract, int(total), bool(duplicate)
