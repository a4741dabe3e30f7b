"""The built-in ledger adapter: one memo per idempotency key, applied at once."""

import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.accounts.models import Account, BillingSystem
from creditdesk.billing.adapters import BillingRejectedError, PostingRequest
from creditdesk.billing.ledger import LedgerAdapter
from creditdesk.billing.models import MemoStatus
from creditdesk.billing.registry import adapter_for
from creditdesk.clock import FrozenClock
from creditdesk.config import Settings
from creditdesk.outbox import PermanentError
from tests.billing import support
from tests.billing.support import Approved

START = datetime(2001, 8, 9, 10, 11, 12, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def ledger(session_factory: sessionmaker[Session], clock: FrozenClock) -> LedgerAdapter:
    return LedgerAdapter(session_factory, clock=clock)


@pytest.fixture
def approved(session_factory: sessionmaker[Session], clock: FrozenClock) -> Approved:
    return support.make_approved_credit(session_factory, now=clock())


def _request(factory: sessionmaker[Session], approved: Approved) -> PostingRequest:
    with factory() as session:
        account = session.get_one(Account, approved.account_id)
        number = account.number
    return PostingRequest(
        idempotency_key=f"test-{uuid.uuid4().hex}",
        credit_id=approved.credit_id,
        credit_number=f"BC-{approved.credit_id:06d}",
        account_number=number,
        external_account_id=None,
        amount_minor=approved.amount_minor,
        currency="GBP",
        reason="overcharge",
        credit_type="dispute",
        invoice_ref=None,
        memo_text="Credit for a double charge",
    )


def test_posting_raises_and_applies_a_memo(
    session_factory: sessionmaker[Session], ledger: LedgerAdapter, approved: Approved
) -> None:
    request = _request(session_factory, approved)

    result = ledger.post_credit(request)

    [memo] = support.memos(session_factory, approved)
    assert result.external_ref == memo.reference == f"LM-{memo.id:08d}"
    assert result.applied is True
    assert result.raw_status == "applied"
    assert memo.status == MemoStatus.APPLIED
    assert memo.applied_at == START
    assert support.balance(session_factory, approved) == -approved.amount_minor


def test_the_same_key_twice_raises_one_memo(
    session_factory: sessionmaker[Session], ledger: LedgerAdapter, approved: Approved
) -> None:
    request = _request(session_factory, approved)
    assert ledger.find_by_idempotency_key(request.idempotency_key) is None

    first = ledger.post_credit(request)
    second = ledger.post_credit(request)

    assert second == first
    assert ledger.find_by_idempotency_key(request.idempotency_key) == first
    assert len(support.memos(session_factory, approved)) == 1
    assert support.balance(session_factory, approved) == -approved.amount_minor

    ledger.post_credit(replace(request, idempotency_key=f"{request.idempotency_key}-2"))
    assert support.balance(session_factory, approved) == -2 * approved.amount_minor


def test_concurrent_posts_with_one_key_raise_one_memo(
    session_factory: sessionmaker[Session], ledger: LedgerAdapter, approved: Approved
) -> None:
    request = _request(session_factory, approved)
    barrier = threading.Barrier(4)
    results, errors = [], []

    def post() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(ledger.post_credit(request))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(set(results)) == 1
    assert len(support.memos(session_factory, approved)) == 1
    assert support.balance(session_factory, approved) == -approved.amount_minor


def test_the_ledger_refuses_what_a_vendor_would(
    session_factory: sessionmaker[Session], ledger: LedgerAdapter, approved: Approved
) -> None:
    request = _request(session_factory, approved)

    with pytest.raises(BillingRejectedError, match="no account"):
        ledger.post_credit(replace(request, account_number="ACC-missing"))
    with pytest.raises(BillingRejectedError, match="kept in GBP"):
        ledger.post_credit(replace(request, currency="EUR"))
    with pytest.raises(BillingRejectedError, match="positive"):
        ledger.post_credit(replace(request, amount_minor=0))

    assert support.memos(session_factory, approved) == []
    assert support.balance(session_factory, approved) == 0


def test_only_the_ledger_is_configured(
    session_factory: sessionmaker[Session], clock: FrozenClock
) -> None:
    settings = Settings(env="test")

    adapter = adapter_for(
        BillingSystem.LEDGER,
        session_factory=session_factory,
        settings=settings,
        clock=clock,
    )

    assert isinstance(adapter, LedgerAdapter)
    with pytest.raises(PermanentError, match="'zuora' is not configured"):
        adapter_for(
            BillingSystem.ZUORA,
            session_factory=session_factory,
            settings=settings,
            clock=clock,
        )
