"""An approved credit with its queued credit.post message, and ways to read back."""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.accounts.models import Account, BillingSystem
from creditdesk.billing.adapters import BillingAdapter, PostingRequest, PostingResult
from creditdesk.billing.ledger import account_balance
from creditdesk.billing.models import LedgerMemo
from creditdesk.cases.models import Case
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.db import transaction
from creditdesk.outbox import service as outbox
from creditdesk.outbox.models import OutboxMessage
from creditdesk.outbox.registry import CREDIT_POST
from creditdesk.users.models import Role, User
from tests.factories import make_customer, make_user


@dataclass
class Approved:
    credit_id: int
    account_id: int
    case_id: int
    message_id: int
    amount_minor: int


def make_approved_credit(
    factory: sessionmaker[Session],
    *,
    now: datetime,
    amount_minor: int = 1_250,
    currency: str = "GBP",
    account_currency: str | None = None,
    system: BillingSystem = BillingSystem.LEDGER,
    status: CreditStatus = CreditStatus.APPROVED,
    requester: User | None = None,
) -> Approved:
    """A credit as approval leaves it: approved, with credit.post queued.

    Requested by ``requester`` on a case of theirs, else by a new agent.
    """
    agent = requester
    if agent is None:
        with transaction(factory) as session:
            agent = make_user(session, role=Role.AGENT)
    customer = make_customer(
        factory, owner=agent, currency=account_currency or currency
    )

    with transaction(factory) as session:
        account = session.get_one(Account, customer.account.id)
        account.billing_system = system
        credit = BillingCredit(
            case_id=customer.case.id,
            account_id=account.id,
            requested_by_id=agent.id,
            team_id=agent.team_id,
            amount_minor=amount_minor,
            currency=currency,
            type="dispute",
            reason="overcharge",
            justification="Billed twice for the same month.",
            invoice_ref="INV-1001",
            status=status,
            policy_version=1,
            decision={"outcome": "approved", "rules": [], "policy_version": 1},
            created_at=now,
            updated_at=now,
            decided_at=now,
        )
        session.add(credit)
        session.flush()
        message = outbox.enqueue(
            session, topic=CREDIT_POST, payload={"credit_id": credit.id}, now=now
        )
        return Approved(credit.id, account.id, credit.case_id, message.id, amount_minor)


def credit(factory: sessionmaker[Session], approved: Approved) -> BillingCredit:
    with factory() as session:
        return session.get_one(BillingCredit, approved.credit_id)


def case(factory: sessionmaker[Session], approved: Approved) -> Case:
    with factory() as session:
        return session.get_one(Case, approved.case_id)


def message(factory: sessionmaker[Session], approved: Approved) -> OutboxMessage:
    with factory() as session:
        return session.get_one(OutboxMessage, approved.message_id)


def memos(factory: sessionmaker[Session], approved: Approved) -> list[LedgerMemo]:
    with factory() as session:
        return list(
            session.scalars(
                sa.select(LedgerMemo).where(LedgerMemo.credit_id == approved.credit_id)
            )
        )


def balance(factory: sessionmaker[Session], approved: Approved) -> int:
    with factory() as session:
        return account_balance(session, approved.account_id)


class SimulatedCrash(BaseException):
    """The worker process dies: nothing after this point runs."""


class CrashAfterPosting:
    """The billing system accepts the memo, then our process dies before it
    commits; wraps a real adapter."""

    def __init__(self, real: BillingAdapter) -> None:
        self.real = real

    def post_credit(self, request: PostingRequest) -> PostingResult:
        self.real.post_credit(request)
        raise SimulatedCrash

    def find_by_idempotency_key(self, key: str) -> PostingResult | None:
        return self.real.find_by_idempotency_key(key)
