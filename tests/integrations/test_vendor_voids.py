"""A voided credit reversed at Zuora, SAP, Salesforce and a webhook receiver
by the real outbox
worker: ``voiding`` until the vendor confirms, then ``voided`` and audited;
a refusal leaves it ``voiding`` with the vendor's words on the dead letter.

Each credit is posted through the worker first, then voided as the void
service does it (``voiding`` plus a queued ``credit.void``).
"""

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.accounts.models import Account, BillingSystem
from creditdesk.actors import Actor, Channel
from creditdesk.audit.models import AuditEntry
from creditdesk.billing.adapters import BillingAdapter
from creditdesk.billing.reversals import VoidCredit
from creditdesk.billing.tasks import PostCredit
from creditdesk.clock import FrozenClock
from creditdesk.config import Settings
from creditdesk.credits import lifecycle
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.credits.voids import VOID_TOPIC
from creditdesk.db import transaction
from creditdesk.integrations.fakes.server import Fault, Faults, serve
from creditdesk.integrations.http import RetryPolicy
from creditdesk.integrations.sap.odata import ITEM_SET
from creditdesk.integrations.webhook import fake as webhook_fake
from creditdesk.integrations.webhook.adapter import WebhookAdapter
from creditdesk.outbox import service as outbox
from creditdesk.outbox.models import OutboxMessage, OutboxStatus
from creditdesk.outbox.registry import CREDIT_POST
from creditdesk.outbox.worker import Worker
from tests.billing import support
from tests.billing.support import Approved
from tests.integrations import zuora_support as z
from tests.integrations.test_salesforce import (
    COMPOSITE,
    FakeSalesforce,
    _adapter,
    salesforce,
)
from tests.integrations.test_sap import Sap, server

__all__ = ["salesforce", "server"]

# Before every other suite's clock, so these workers see only these messages;
# every test settles what it queues.
START = datetime(1987, 7, 8, 9, 10, 11, tzinfo=UTC)


@pytest.fixture(scope="module")
def tenant() -> Iterator[z.Tenant]:
    with z.running_tenant() as running:
        yield running


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[webhook_fake.Receiver, str]]:
    # Not applied at once, as a memo raised without an invoice elsewhere.
    fake = webhook_fake.Receiver(applied=False)
    with serve(webhook_fake.create_app(fake)) as url:
        yield fake, url + webhook_fake.PATH


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def settings() -> Settings:
    return Settings(
        env="test",
        worker_lease_seconds=30,
        outbox_max_attempts=3,
        outbox_backoff_base_seconds=5,
        outbox_backoff_max_seconds=10,
    )


@dataclasses.dataclass
class Vendor:
    system: BillingSystem
    external_account_id: str
    adapter: Callable[[], BillingAdapter]
    reversed_at_vendor: Callable[[str], bool]
    void_path: tuple[str, str]
    faults: Faults


@pytest.fixture(params=["zuora", "sap", "salesforce", "webhook"])
def vendor(
    request: pytest.FixtureRequest,
    tenant: z.Tenant,
    server: Sap,
    salesforce: FakeSalesforce,
    receiver: tuple[webhook_fake.Receiver, str],
    clock: FrozenClock,
) -> Iterator[Vendor]:
    if request.param == "webhook":
        yield _webhook(*receiver, clock)
        receiver[0].faults.clear()
    elif request.param == "zuora":
        account = tenant.account()
        yield Vendor(
            BillingSystem.ZUORA,
            account.number,
            lambda: z.connect(tenant.url, clock).adapter,
            lambda ref: any(m.reversed for m in tenant.fake.memos if m.number == ref),
            ("PUT", "/v1/creditmemos/"),
            tenant.fake.faults,
        )
        tenant.fake.faults.clear()
    elif request.param == "sap":
        yield Vendor(
            BillingSystem.SAP,
            server.customer(),
            lambda: server.adapter(rejection_reason="10"),
            lambda ref: all(
                item.get("SalesDocumentRjcnReason")
                for item in server.fake.memo_requests[ref]["to_Item"]
            ),
            ("PATCH", ITEM_SET),
            server.fake.faults,
        )
        server.fake.faults.clear()
    else:
        org = salesforce.org
        yield Vendor(
            BillingSystem.SALESFORCE,
            org.add_account(),
            lambda: _adapter(salesforce, clock, []),
            lambda ref: any(
                r["Id"] == ref and r["blng__Status__c"] == "Cancelled"
                for r in org.rows("blng__CreditNote__c")
            ),
            ("POST", COMPOSITE),
            org.faults,
        )
        org.faults.clear()


def _webhook(fake: webhook_fake.Receiver, url: str, clock: FrozenClock) -> Vendor:
    fake.clock = clock
    adapter = WebhookAdapter(
        url=url,
        secret=fake.secret,
        clock=clock,
        retry=RetryPolicy(attempts=3, base_seconds=0.01),
        sleep=lambda _: None,
    )
    return Vendor(
        BillingSystem.WEBHOOK,
        "cust-void",
        lambda: adapter,
        lambda ref: fake.reversal_of(ref) is not None,
        ("POST", webhook_fake.REVERSAL_PATH),
        fake.faults,
    )


def _worker(
    factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    vendor: Vendor,
) -> Worker:
    def adapters(*_args: Any, **_kwargs: Any) -> BillingAdapter:
        return vendor.adapter()

    handlers = {CREDIT_POST: PostCredit(adapters), VOID_TOPIC: VoidCredit(adapters)}
    return Worker(
        factory, clock=clock, settings=settings, name="void-test", handlers=handlers
    )


def _posted_then_voiding(
    factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    vendor: Vendor,
) -> tuple[Approved, int]:
    approved = support.make_approved_credit(factory, now=clock(), system=vendor.system)
    with transaction(factory) as session:
        account = session.get_one(Account, approved.account_id)
        account.external_account_id = vendor.external_account_id
        session.get_one(BillingCredit, approved.credit_id).invoice_ref = None
    assert _worker(factory, clock, settings, vendor).run_once() == 1
    assert support.credit(factory, approved).status is CreditStatus.POSTED

    with transaction(factory) as session:
        credit = lifecycle.load_for_update(session, approved.credit_id)
        lifecycle.transition(
            session,
            credit,
            CreditStatus.VOIDING,
            actor=Actor.system(Channel.CLI, name="test"),
            now=clock(),
            reason="Credited twice for the same outage.",
        )
        message = outbox.enqueue(
            session, topic=VOID_TOPIC, payload={"credit_id": credit.id}, now=clock()
        )
    return approved, message.id


def _message(factory: sessionmaker[Session], message_id: int) -> OutboxMessage:
    with factory() as session:
        return session.get_one(OutboxMessage, message_id)


def _actions(factory: sessionmaker[Session], credit_id: int) -> list[AuditEntry]:
    with factory() as session:
        query = sa.select(AuditEntry).where(
            AuditEntry.entity_type == "credit",
            AuditEntry.entity_id == str(credit_id),
        )
        return list(session.scalars(query.order_by(AuditEntry.seq)))


def test_the_credit_is_voided_once_the_vendor_confirms(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    vendor: Vendor,
) -> None:
    approved, message_id = _posted_then_voiding(
        session_factory, clock, settings, vendor
    )
    external_ref = support.credit(session_factory, approved).external_ref or ""
    assert not vendor.reversed_at_vendor(external_ref)

    assert _worker(session_factory, clock, settings, vendor).run_once() == 1

    assert vendor.reversed_at_vendor(external_ref)
    assert support.credit(session_factory, approved).status is CreditStatus.VOIDED
    assert _message(session_factory, message_id).status is OutboxStatus.DELIVERED
    actions = [e.action for e in _actions(session_factory, approved.credit_id)]
    assert actions[-2:] == ["credit.reversed", "credit.voided"]


def test_a_vendor_that_stays_down_is_retried_and_voids_once(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    vendor: Vendor,
) -> None:
    approved, message_id = _posted_then_voiding(
        session_factory, clock, settings, vendor
    )
    method, path = vendor.void_path
    faults = vendor.faults
    faults.add(Fault(method, path, status=503, times=3))
    worker = _worker(session_factory, clock, settings, vendor)

    worker.run_once()
    assert _message(session_factory, message_id).status is OutboxStatus.PENDING
    assert support.credit(session_factory, approved).status is CreditStatus.VOIDING

    clock.advance(timedelta(seconds=settings.outbox_backoff_max_seconds))
    faults.clear()
    assert worker.run_once() == 1

    assert support.credit(session_factory, approved).status is CreditStatus.VOIDED
    reversed_ = [
        e
        for e in _actions(session_factory, approved.credit_id)
        if e.action == "credit.reversed"
    ]
    assert len(reversed_) == 1


def test_a_refusal_leaves_the_credit_voiding_with_the_vendors_words(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    vendor: Vendor,
) -> None:
    approved, message_id = _posted_then_voiding(
        session_factory, clock, settings, vendor
    )
    method, path = vendor.void_path
    vendor.faults.add(Fault(method, path, status=400, body=_REFUSALS[vendor.system]))

    _worker(session_factory, clock, settings, vendor).run_once()

    message = _message(session_factory, message_id)
    assert (message.status, message.attempts) == (OutboxStatus.DEAD, 1)
    assert "closed period" in (message.last_error or "")
    assert support.credit(session_factory, approved).status is CreditStatus.VOIDING


_REFUSALS = {
    BillingSystem.ZUORA: (
        '{"success": false, "reasons": [{"code": 53000030, '
        '"message": "The closed period cannot be changed."}]}'
    ),
    BillingSystem.SAP: (
        '{"error": {"code": "V1/999", "message": {"lang": "en", '
        '"value": "Posting in a closed period"}}}'
    ),
    BillingSystem.WEBHOOK: '{"error": "posting is in a closed period"}',
    BillingSystem.SALESFORCE: (
        '[{"errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", '
        '"message": "A closed period cannot be changed"}]'
    ),
}
