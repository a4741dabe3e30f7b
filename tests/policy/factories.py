"""Keyword-only factories writing rows straight through the ORM, with unique
values so that tests sharing a database never collide."""

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from creditdesk.accounts.models import Account, AccountStatus, Contract, ContractStatus
from creditdesk.cases.models import Case, CaseStatus, CaseType
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.users.models import Role, User

NOW = datetime(2031, 3, 15, 12, 0, tzinfo=UTC)
TODAY = NOW.date()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def make_user(session: Session, *, role: Role = Role.AGENT) -> User:
    name = unique("user")
    user = User(username=name, display_name=name, role=role, created_at=NOW)
    session.add(user)
    session.flush()
    return user


def make_account(
    session: Session,
    *,
    currency: str = "GBP",
    status: AccountStatus = AccountStatus.ACTIVE,
) -> Account:
    account = Account(
        number=unique("ACC"),
        name=unique("Customer"),
        currency=currency,
        status=status,
        created_at=NOW,
    )
    session.add(account)
    session.flush()
    return account


def make_contract(
    session: Session,
    *,
    account: Account,
    product: str = "broadband",
    starts_on: date = TODAY - timedelta(days=100),
    ends_on: date | None = None,
    status: ContractStatus = ContractStatus.ACTIVE,
    cap_minor: int = 50_000,
    credit_types: list[str] | None = None,
) -> Contract:
    contract = Contract(
        account_id=account.id,
        product=product,
        starts_on=starts_on,
        ends_on=ends_on,
        status=status,
        credit_cap_minor=cap_minor,
        credit_types=credit_types,
        created_at=NOW,
    )
    session.add(contract)
    session.flush()
    return contract


def make_case(
    session: Session,
    *,
    account: Account,
    owner: User,
    product: str | None = "broadband",
    currency: str = "GBP",
    disputed_minor: int | None = None,
    status: CaseStatus = CaseStatus.OPEN,
) -> Case:
    case = Case(
        account_id=account.id,
        subject=unique("case"),
        type=CaseType.BILLING_DISPUTE,
        product=product,
        currency=currency,
        disputed_amount_minor=disputed_minor,
        status=status,
        owner_id=owner.id,
        opened_at=NOW - timedelta(days=60),
    )
    session.add(case)
    session.flush()
    return case


def make_credit(
    session: Session,
    *,
    case: Case,
    created_at: datetime,
    amount_minor: int = 1_000,
    currency: str = "GBP",
    reason: str = "goodwill",
    status: CreditStatus = CreditStatus.APPROVED,
) -> BillingCredit:
    credit = BillingCredit(
        case_id=case.id,
        account_id=case.account_id,
        requested_by_id=case.owner_id,
        amount_minor=amount_minor,
        currency=currency,
        type="goodwill",
        reason=reason,
        justification="test",
        status=status,
        policy_version=1,
        decision={},
        created_at=created_at,
        updated_at=created_at,
    )
    session.add(credit)
    session.flush()
    return credit


def make_customer(session: Session, **case_options: Any) -> Case:
    """An active account with a broadband contract, and a case on it."""
    account = make_account(session)
    make_contract(session, account=account)
    return make_case(session, account=account, owner=make_user(session), **case_options)
