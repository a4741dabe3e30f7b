"""Approved credits posted to the fake Zuora by the real outbox worker."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.accounts.models import Account, BillingSystem
from creditdesk.billing.adapters import BillingAdapter
from creditdesk.billing.registry import adapter_for
from creditdesk.billing.tasks import PostCredit, idempotency_key
from creditdesk.clock import FrozenClock
from creditdesk.config import Settings
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.db import transaction
from creditdesk.integrations.fakes.server import Fault
from creditdesk.integrations.zuora.adapter import ZuoraAdapter
from creditdesk.integrations.zuora.fake_tenant import Invoice
from creditdesk.integrations.zuora.settings import get_zuora_settings
from creditdesk.outbox.models import OutboxStatus
from creditdesk.outbox.registry import CREDIT_POST
from creditdesk.outbox.worker import Worker
from tests.billing import support
from tests.billing.support import Approved, CrashAfterPosting, SimulatedCrash
from tests.integrations import zuora_support as z

# Earlier than every other suite's clock, so these workers claim only the
# messages these tests queue (and each test leaves none pending).
START = datetime(1980, 2, 3, 4, 5, 6, tzinfo=UTC)


@pytest.fixture(scope="module")
def tenant() -> Iterator[z.Tenant]:
    with z.running_tenant() as running:
        yield running


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


def _approved(
    factory: sessionmaker[Session],
    tenant: z.Tenant,
    clock: FrozenClock,
    *,
    invoice: bool,
) -> tuple[Approved, Invoice | None]:
    approved = support.make_approved_credit(
        factory, now=clock(), system=BillingSystem.ZUORA
    )
    account = tenant.account()
    billed = tenant.invoice(account, "30.00") if invoice else None
    with transaction(factory) as session:
        session.get_one(
            Account, approved.account_id
        ).external_account_id = account.number
        credit = session.get_one(BillingCredit, approved.credit_id)
        credit.invoice_ref = billed.number if billed else None
    return approved, billed


def _worker(
    factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    adapter: BillingAdapter,
) -> Worker:
    handlers = {CREDIT_POST: PostCredit(lambda *_a, **_k: adapter)}
    return Worker(
        factory, clock=clock, settings=settings, name="zuora-test", handlers=handlers
    )


def _key(approved: Approved) -> str:
    return idempotency_key(approved.message_id)


@pytest.mark.parametrize(
    ("invoice", "status"),
    [(True, CreditStatus.APPLIED), (False, CreditStatus.POSTED)],
    ids=["invoice memo applied", "charge memo posted"],
)
def test_an_approved_credit_ends_with_the_memo_number_as_external_ref(
    session_factory: sessionmaker[Session],
    tenant: z.Tenant,
    clock: FrozenClock,
    settings: Settings,
    invoice: bool,
    status: CreditStatus,
) -> None:
    approved, _ = _approved(session_factory, tenant, clock, invoice=invoice)
    adapter = z.connect(tenant.url, clock).adapter

    assert _worker(session_factory, clock, settings, adapter).run_once() == 1

    [memo] = tenant.fake.memos_with_key(_key(approved))
    credit = support.credit(session_factory, approved)
    assert credit.status == status
    assert credit.external_ref == memo.number
    assert memo.comment.startswith(f"Credit {credit.number} (dispute, overcharge)")
    assert support.message(session_factory, approved).status == OutboxStatus.DELIVERED


def test_a_refusal_fails_the_credit_with_zuoras_message_and_is_not_retried(
    session_factory: sessionmaker[Session],
    tenant: z.Tenant,
    clock: FrozenClock,
    settings: Settings,
) -> None:
    approved, _ = _approved(session_factory, tenant, clock, invoice=False)
    body = (
        '{"success": false, "reasons": [{"code": 53000020, '
        '"message": "The account is closed."}]}'
    )
    tenant.fake.faults.add(Fault("POST", "/v1/creditmemos", status=400, body=body))
    adapter = z.connect(tenant.url, clock).adapter

    _worker(session_factory, clock, settings, adapter).run_once()

    credit = support.credit(session_factory, approved)
    message = support.message(session_factory, approved)
    assert credit.status == CreditStatus.POSTING_FAILED
    assert "The account is closed." in (credit.last_error or "")
    assert (message.status, message.attempts) == (OutboxStatus.DEAD, 1)
    assert tenant.fake.memos_with_key(_key(approved)) == []


def test_a_transient_failure_is_posted_on_the_outboxs_retry(
    session_factory: sessionmaker[Session],
    tenant: z.Tenant,
    clock: FrozenClock,
    settings: Settings,
) -> None:
    approved, _ = _approved(session_factory, tenant, clock, invoice=True)
    tenant.fake.faults.add(Fault("POST", "/v1/invoices/", kind="malformed"))
    worker = _worker(
        session_factory, clock, settings, z.connect(tenant.url, clock).adapter
    )

    worker.run_once()
    assert support.message(session_factory, approved).status == OutboxStatus.PENDING
    clock.advance(timedelta(seconds=settings.outbox_backoff_max_seconds))
    worker.run_once()

    [memo] = tenant.fake.memos_with_key(_key(approved))
    credit = support.credit(session_factory, approved)
    assert (credit.status, credit.external_ref) == (CreditStatus.APPLIED, memo.number)


@pytest.mark.parametrize("hours_later", [0, 25], ids=["within 24h", "after 24h"])
def test_a_repeat_after_zuora_accepted_posts_one_memo(
    session_factory: sessionmaker[Session],
    tenant: z.Tenant,
    clock: FrozenClock,
    settings: Settings,
    hours_later: int,
) -> None:
    approved, invoice = _approved(session_factory, tenant, clock, invoice=True)
    adapter = z.connect(tenant.url, clock).adapter

    with pytest.raises(SimulatedCrash):
        _worker(session_factory, clock, settings, CrashAfterPosting(adapter)).run_once()
    assert support.credit(session_factory, approved).status == CreditStatus.POSTING

    # Zuora forgets the Idempotency-Key after 24 hours; the custom field stays.
    tenant.clock.advance(timedelta(hours=hours_later))
    clock.advance(timedelta(seconds=settings.worker_lease_seconds, hours=hours_later))
    assert _worker(session_factory, clock, settings, adapter).run_once() == 1

    [memo] = tenant.fake.memos_with_key(_key(approved))
    credit = support.credit(session_factory, approved)
    assert (credit.status, credit.external_ref) == (CreditStatus.APPLIED, memo.number)
    assert invoice is not None and invoice.balance == 30 - memo.amount
    assert support.message(session_factory, approved).attempts == 2


def test_the_registry_builds_the_adapter_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
    session_factory: sessionmaker[Session],
    tenant: z.Tenant,
    clock: FrozenClock,
    settings: Settings,
) -> None:
    for name, value in {
        "BASE_URL": tenant.url,
        "CLIENT_ID": "creditdesk",
        "CLIENT_SECRET": "s3cret",
        "CHARGE_ID": z.CHARGE_ID,
    }.items():
        monkeypatch.setenv(f"CREDITDESK_ZUORA_{name}", value)
    get_zuora_settings.cache_clear()
    try:
        adapter: Any = adapter_for(
            BillingSystem.ZUORA,
            session_factory=session_factory,
            settings=settings,
            clock=clock,
        )
        assert isinstance(adapter, ZuoraAdapter)
        assert adapter.find_by_idempotency_key("outbox-none") is None
    finally:
        get_zuora_settings.cache_clear()
