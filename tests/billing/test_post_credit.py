"""The credit.post job, end to end through the worker and the ledger."""

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.accounts.models import BillingSystem
from creditdesk.actors import Actor, Channel
from creditdesk.audit.models import AuditEntry
from creditdesk.billing.adapters import (
    BillingAdapter,
    BillingTransientError,
    PostingRequest,
    PostingResult,
)
from creditdesk.billing.registry import adapter_for
from creditdesk.billing.tasks import AdapterFactory, PostCredit, idempotency_key
from creditdesk.cases.models import CaseStatus
from creditdesk.clock import FrozenClock
from creditdesk.config import Settings
from creditdesk.credits.models import CreditStatus
from creditdesk.db import transaction
from creditdesk.outbox import service as outbox
from creditdesk.outbox.models import OutboxStatus
from creditdesk.outbox.registry import CREDIT_POST
from creditdesk.outbox.worker import Worker
from tests.billing import support
from tests.billing.support import Approved, CrashAfterPosting, SimulatedCrash

# Far from the other suites' clocks, so these workers see only these messages.
START = datetime(2000, 1, 2, 3, 4, 5, tzinfo=UTC)
OPERATOR = Actor.system(Channel.CLI, name="ops:test")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def settings() -> Settings:
    return Settings(
        env="test",
        worker_lease_seconds=30,
        outbox_max_attempts=2,
        outbox_backoff_base_seconds=5,
        outbox_backoff_max_seconds=10,
    )


def _worker(
    factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    adapters: AdapterFactory | None = None,
    name: str = "billing-test",
) -> Worker:
    handlers = None if adapters is None else {CREDIT_POST: PostCredit(adapters)}
    return Worker(factory, clock=clock, settings=settings, name=name, handlers=handlers)


def _actions(factory: sessionmaker[Session], credit_id: int) -> list[str]:
    with factory() as session:
        return list(
            session.scalars(
                sa.select(AuditEntry.action)
                .where(
                    AuditEntry.entity_type == "credit",
                    AuditEntry.entity_id == str(credit_id),
                )
                .order_by(AuditEntry.seq)
            )
        )


def _assert_applied_once(factory: sessionmaker[Session], approved: Approved) -> None:
    [memo] = support.memos(factory, approved)
    assert memo.idempotency_key == idempotency_key(approved.message_id)
    credit = support.credit(factory, approved)
    assert credit.status == CreditStatus.APPLIED
    assert credit.external_ref == memo.reference
    assert support.balance(factory, approved) == -approved.amount_minor
    assert support.message(factory, approved).status == OutboxStatus.DELIVERED


def test_an_approved_credit_is_posted_applied_and_its_case_resolved(
    session_factory: sessionmaker[Session], clock: FrozenClock, settings: Settings
) -> None:
    approved = support.make_approved_credit(session_factory, now=clock())

    assert _worker(session_factory, clock, settings).run_once() == 1

    _assert_applied_once(session_factory, approved)
    credit = support.credit(session_factory, approved)
    assert credit.posted_at == credit.applied_at == START
    assert support.case(session_factory, approved).status == CaseStatus.RESOLVED
    assert _actions(session_factory, approved.credit_id)[-3:] == [
        "credit.posting_started",
        "credit.posted",
        "credit.applied",
    ]


def test_a_credit_no_longer_approved_is_not_posted(
    session_factory: sessionmaker[Session], clock: FrozenClock, settings: Settings
) -> None:
    approved = support.make_approved_credit(
        session_factory, now=clock(), status=CreditStatus.RECALLED
    )

    _worker(session_factory, clock, settings).run_once()

    assert support.memos(session_factory, approved) == []
    assert support.credit(session_factory, approved).status == CreditStatus.RECALLED
    assert support.message(session_factory, approved).status == OutboxStatus.DELIVERED


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"account_currency": "EUR"}, "kept in EUR, not GBP"),
        ({"system": BillingSystem.ZUORA}, "'zuora' is not configured"),
    ],
)
def test_a_refused_posting_fails_the_credit_at_once(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    options: dict,
    error: str,
) -> None:
    approved = support.make_approved_credit(session_factory, now=clock(), **options)

    _worker(session_factory, clock, settings).run_once()

    credit = support.credit(session_factory, approved)
    message = support.message(session_factory, approved)
    assert credit.status == CreditStatus.POSTING_FAILED
    assert error in (credit.last_error or "")
    assert message.status == OutboxStatus.DEAD
    assert message.attempts == 1
    assert support.memos(session_factory, approved) == []


class Unreachable:
    """A billing system that times out on every call."""

    def __init__(self) -> None:
        self.calls = 0

    def post_credit(self, request: PostingRequest) -> PostingResult:
        self.calls += 1
        raise BillingTransientError("timed out")

    def find_by_idempotency_key(self, key: str) -> PostingResult | None:
        raise BillingTransientError("timed out")


def test_exhausted_retries_fail_the_credit_and_a_retry_posts_it(
    session_factory: sessionmaker[Session], clock: FrozenClock, settings: Settings
) -> None:
    approved = support.make_approved_credit(session_factory, now=clock())
    down = Unreachable()
    worker = _worker(session_factory, clock, settings, lambda *_a, **_k: down)

    worker.run_once()
    assert support.credit(session_factory, approved).status == CreditStatus.POSTING
    assert support.message(session_factory, approved).status == OutboxStatus.PENDING

    clock.advance(timedelta(seconds=settings.outbox_backoff_max_seconds))
    worker.run_once()
    credit = support.credit(session_factory, approved)
    assert credit.status == CreditStatus.POSTING_FAILED
    assert credit.last_error == "BillingTransientError: timed out"
    assert support.message(session_factory, approved).status == OutboxStatus.DEAD
    assert down.calls == 1

    with transaction(session_factory) as session:
        outbox.retry_dead(session, approved.message_id, actor=OPERATOR, now=clock())
    assert _worker(session_factory, clock, settings).run_once() == 1

    _assert_applied_once(session_factory, approved)
    assert support.credit(session_factory, approved).last_error is None


def test_a_crash_after_the_vendor_accepted_posts_exactly_once(
    session_factory: sessionmaker[Session], clock: FrozenClock, settings: Settings
) -> None:
    approved = support.make_approved_credit(session_factory, now=clock())

    def crashing(*args: Any, **kwargs: Any) -> BillingAdapter:
        return CrashAfterPosting(adapter_for(*args, **kwargs))

    with pytest.raises(SimulatedCrash):
        _worker(session_factory, clock, settings, crashing).run_once()
    assert len(support.memos(session_factory, approved)) == 1
    assert support.credit(session_factory, approved).status == CreditStatus.POSTING

    survivor = _worker(session_factory, clock, settings, name="survivor")
    assert survivor.run_once() == 0  # the dead worker's lease still holds
    clock.advance(timedelta(seconds=settings.worker_lease_seconds))
    assert survivor.run_once() == 1

    _assert_applied_once(session_factory, approved)
    assert support.message(session_factory, approved).attempts == 2


class CrashBeforeAnswer:
    """The worker dies inside the vendor call, every time."""

    def post_credit(self, request: PostingRequest) -> PostingResult:
        raise SimulatedCrash

    def find_by_idempotency_key(self, key: str) -> PostingResult | None:
        return None


def test_a_posting_whose_leases_all_expired_fails_its_credit(
    session_factory: sessionmaker[Session], clock: FrozenClock, settings: Settings
) -> None:
    approved = support.make_approved_credit(session_factory, now=clock())
    for n in range(settings.outbox_max_attempts):
        crashing = _worker(
            session_factory,
            clock,
            settings,
            lambda *_a, **_k: CrashBeforeAnswer(),
            name=f"doomed-{n}",
        )
        with pytest.raises(SimulatedCrash):
            crashing.run_once()
        clock.advance(timedelta(seconds=settings.worker_lease_seconds))
    assert support.credit(session_factory, approved).status == CreditStatus.POSTING

    assert _worker(session_factory, clock, settings).run_once() == 1

    credit = support.credit(session_factory, approved)
    assert credit.status == CreditStatus.POSTING_FAILED
    assert credit.last_error == "leases expired on every attempt"
    assert support.message(session_factory, approved).status == OutboxStatus.DEAD
    assert support.memos(session_factory, approved) == []
    assert _actions(session_factory, approved.credit_id)[-2:] == [
        "credit.posting_failed",
        "work_item.assigned",
    ]


def _dies_before_posting(*_args: Any, **_kwargs: Any) -> BillingAdapter:
    raise SimulatedCrash


def test_a_credit_whose_worker_always_died_before_posting_fails_for_operations(
    session_factory: sessionmaker[Session], clock: FrozenClock, settings: Settings
) -> None:
    approved = support.make_approved_credit(session_factory, now=clock())
    for n in range(settings.outbox_max_attempts):
        doomed = _worker(
            session_factory, clock, settings, _dies_before_posting, name=f"gone-{n}"
        )
        with pytest.raises(SimulatedCrash):
            doomed.run_once()
        clock.advance(timedelta(seconds=settings.worker_lease_seconds))
    # Each attempt died before its start committed.
    assert support.credit(session_factory, approved).status == CreditStatus.APPROVED

    assert _worker(session_factory, clock, settings).run_once() == 1

    credit = support.credit(session_factory, approved)
    assert credit.status == CreditStatus.POSTING_FAILED
    assert credit.last_error == "leases expired on every attempt"
    assert support.message(session_factory, approved).status == OutboxStatus.DEAD
    assert support.memos(session_factory, approved) == []
    assert _actions(session_factory, approved.credit_id)[-3:] == [
        "credit.posting_started",
        "credit.posting_failed",
        "work_item.assigned",
    ]


class Stalled:
    """Holds a worker inside the vendor call until told to go on."""

    def __init__(self) -> None:
        self.real: BillingAdapter | None = None
        self.entered = threading.Event()
        self.go_on = threading.Event()

    def adapters(self, *args: Any, **kwargs: Any) -> BillingAdapter:
        self.real = adapter_for(*args, **kwargs)
        return self

    def post_credit(self, request: PostingRequest) -> PostingResult:
        self.entered.set()
        assert self.go_on.wait(timeout=30)
        assert self.real is not None
        return self.real.post_credit(request)

    def find_by_idempotency_key(self, key: str) -> PostingResult | None:
        assert self.real is not None
        return self.real.find_by_idempotency_key(key)


def test_a_stalled_worker_that_lost_its_lease_changes_nothing(
    session_factory: sessionmaker[Session], clock: FrozenClock, settings: Settings
) -> None:
    approved = support.make_approved_credit(session_factory, now=clock())
    gate = Stalled()
    slow = _worker(session_factory, clock, settings, gate.adapters, name="slow")
    outcome: list[int] = []
    thread = threading.Thread(target=lambda: outcome.append(slow.run_once()))
    thread.start()
    try:
        assert gate.entered.wait(timeout=30)

        clock.advance(timedelta(seconds=settings.worker_lease_seconds))
        assert _worker(session_factory, clock, settings, name="fast").run_once() == 1
        _assert_applied_once(session_factory, approved)
    finally:
        gate.go_on.set()
        thread.join(timeout=30)

    # The slow worker's post found the memo; its commit was refused.
    assert outcome == [1]
    _assert_applied_once(session_factory, approved)
    assert support.message(session_factory, approved).attempts == 2


@pytest.mark.postgres
def test_two_workers_on_one_message_post_one_memo(
    session_factory: sessionmaker[Session], clock: FrozenClock, settings: Settings
) -> None:
    approved = support.make_approved_credit(session_factory, now=clock())
    workers = [
        _worker(session_factory, clock, settings, name=f"racer-{n}") for n in range(2)
    ]
    barrier = threading.Barrier(2)
    processed: list[int] = []

    def race(worker: Worker) -> None:
        barrier.wait(timeout=10)
        processed.append(worker.run_once())

    threads = [threading.Thread(target=race, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(processed) == [0, 1]
    _assert_applied_once(session_factory, approved)
