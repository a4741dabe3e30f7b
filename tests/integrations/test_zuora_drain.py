"""Two workers on PostgreSQL drain 1,000 approved credits to the fake Zuora:
every credit is posted, each exactly once.

The workers run in threads of this process, each with its own adapter (and
so its own OAuth token and connections), claiming batches with
``FOR UPDATE SKIP LOCKED``. The fake tenant is the proof: one memo per
outbox key, and as many memos as credits.
"""

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.accounts.models import Account, BillingSystem
from creditdesk.billing.tasks import PostCredit, idempotency_key
from creditdesk.clock import FrozenClock
from creditdesk.config import Settings
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.db import transaction
from creditdesk.integrations.zuora.adapter import ZuoraAdapter
from creditdesk.outbox import service as outbox
from creditdesk.outbox.models import OutboxMessage, OutboxStatus
from creditdesk.outbox.registry import CREDIT_POST
from creditdesk.outbox.worker import Worker
from creditdesk.users.models import Role
from tests.factories import Customer, make_customer, make_user
from tests.integrations import zuora_support as z

# Earlier than every other suite's clock, so these workers claim only the
# messages this test queues.
START = datetime(1976, 2, 3, 4, 5, 6, tzinfo=UTC)
CREDITS = 1_000
ACCOUNTS = 10
KEY_FIELD = "IdempotencyKey__c"


@pytest.fixture(scope="module")
def tenant() -> Iterator[z.Tenant]:
    with z.running_tenant() as running:
        yield running


def _seed(factory: sessionmaker[Session], tenant: z.Tenant, now: datetime) -> set[int]:
    """``CREDITS`` approved credits spread over ``ACCOUNTS`` Zuora accounts,
    each with its queued ``credit.post``, as approval leaves them."""
    with transaction(factory) as session:
        agent = make_user(session, role=Role.AGENT)
    customers = [make_customer(factory, owner=agent) for _ in range(ACCOUNTS)]
    with transaction(factory) as session:
        for customer in customers:
            account = session.get_one(Account, customer.account.id)
            account.billing_system = BillingSystem.ZUORA
            account.external_account_id = tenant.account().number
        credits = [
            _approved(customers[n % ACCOUNTS], agent.id, agent.team_id, n, now)
            for n in range(CREDITS)
        ]
        session.add_all(credits)
        session.flush()
        return {
            outbox.enqueue(
                session, topic=CREDIT_POST, payload={"credit_id": c.id}, now=now
            ).id
            for c in credits
        }


def _approved(
    customer: Customer, agent_id: int, team_id: int | None, n: int, now: datetime
) -> BillingCredit:
    return BillingCredit(
        case_id=customer.case.id,
        account_id=customer.account.id,
        requested_by_id=agent_id,
        team_id=team_id,
        amount_minor=100 + n,
        currency="GBP",
        type="goodwill",
        reason="outage",
        justification="Broadband down for two days.",
        invoice_ref=None,
        status=CreditStatus.APPROVED,
        policy_version=1,
        decision={"outcome": "approved", "rules": [], "policy_version": 1},
        created_at=now,
        updated_at=now,
        decided_at=now,
    )


@pytest.mark.postgres
def test_two_workers_drain_1000_credits_each_posted_exactly_once(
    session_factory: sessionmaker[Session], tenant: z.Tenant
) -> None:
    clock = FrozenClock(START)
    settings = Settings(env="test", worker_batch_size=20, worker_lease_seconds=300)
    message_ids = _seed(session_factory, tenant, clock())
    workers = [
        Worker(
            session_factory,
            clock=clock,
            settings=settings,
            name=f"drain-{n}",
            handlers={CREDIT_POST: PostCredit(_adapters(tenant, clock))},
        )
        for n in range(2)
    ]
    processed = _drain_together(workers)

    with session_factory() as session:
        messages = session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.id.in_(message_ids))
        ).all()
        credit_ids = [m.payload["credit_id"] for m in messages]
        statuses = Counter(
            session.scalars(
                sa.select(BillingCredit.status).where(BillingCredit.id.in_(credit_ids))
            )
        )
    assert {m.status for m in messages} == {OutboxStatus.DELIVERED}
    assert {m.attempts for m in messages} == {1}
    assert statuses == Counter({CreditStatus.POSTED: CREDITS})
    assert all(count > 0 for count in processed.values()), processed
    assert sum(processed.values()) == CREDITS

    keys = Counter(m.custom.get(KEY_FIELD) for m in tenant.fake.memos)
    assert keys == Counter({idempotency_key(i): 1 for i in message_ids})


def _adapters(tenant: z.Tenant, clock: FrozenClock) -> Callable[..., ZuoraAdapter]:
    """One adapter per worker, as each worker process builds its own."""
    adapter = z.connect(tenant.url, clock, timeout_seconds=10.0).adapter
    return lambda *_args, **_kwargs: adapter


def _drain_together(workers: list[Worker]) -> dict[str, int]:
    """Run the workers side by side until the outbox is empty; how many
    messages each processed."""
    barrier = threading.Barrier(len(workers))
    processed = dict.fromkeys((w.worker_id for w in workers), 0)
    errors: list[BaseException] = []

    def drain(worker: Worker) -> None:
        try:
            barrier.wait(timeout=10)
            while count := worker.run_once():
                processed[worker.worker_id] += count
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    assert not any(thread.is_alive() for thread in threads)
    return processed
