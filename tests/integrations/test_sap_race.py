"""Two workers on one SAP posting at once: a lease ran out while the first
was still creating the memo request, and a second worker took it over.

SAP has no idempotency header, so only the key lock (``outbox.locks``) keeps
the second worker from looking, missing and creating a memo request of its
own. Each worker gets its own ``KeyLocks`` over its own connections, as two
processes would; on PostgreSQL the lock is the database's.
"""

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.billing.adapters import BillingAdapter
from creditdesk.billing.tasks import AdapterFactory
from creditdesk.clock import FrozenClock
from creditdesk.config import Settings
from creditdesk.credits.models import CreditStatus
from creditdesk.integrations.sap import build_adapter
from creditdesk.outbox.locks import KeyBusy, KeyLocks
from creditdesk.outbox.models import OutboxStatus
from tests.billing import support
from tests.integrations.test_sap import (
    Sap,
    _approved,
    _assert_posted_once,
    _key,
    _worker,
    outbox_settings,
    server,
)

__all__ = ["outbox_settings", "server"]

START = datetime(1988, 9, 10, 11, 12, 13, tzinfo=UTC)


class FirstCreateHeld:
    """Holds the first create that reaches the fake until told to go on."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.go_on = threading.Event()
        self._first = True
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            first, self._first = self._first, False
        if first:
            self.entered.set()
            assert self.go_on.wait(timeout=30)


@pytest.fixture
def sap(server: Sap) -> Iterator[Sap]:
    yield server
    server.fake.before_create = None
    server.fake.faults.clear()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


def _adapters(sap: Sap, locks: KeyLocks) -> AdapterFactory:
    def factory(*_args: object, **_kwargs: object) -> BillingAdapter:
        # Long enough to outwait the held create: the first worker is slow,
        # not timed out.
        return sap.adapter(locks=locks, timeout_seconds=30)

    return factory


def _race(
    factory: sessionmaker[Session],
    sap: Sap,
    clock: FrozenClock,
    settings: Settings,
    locks: tuple[KeyLocks, KeyLocks],
) -> support.Approved:
    """The first worker is held inside its create; meanwhile its lease runs out
    and the second worker runs the same message."""
    approved = _approved(factory, sap, clock())
    held = FirstCreateHeld()
    sap.fake.before_create = held
    slow = _worker(factory, clock, settings, _adapters(sap, locks[0]), name="slow")
    fast = _worker(factory, clock, settings, _adapters(sap, locks[1]), name="fast")

    thread = threading.Thread(target=slow.run_once)
    thread.start()
    try:
        assert held.entered.wait(timeout=30)
        clock.advance(timedelta(seconds=settings.worker_lease_seconds))
        assert fast.run_once() == 1
    finally:
        held.go_on.set()
        thread.join(timeout=30)
    return approved


@pytest.mark.postgres
def test_a_second_worker_waits_for_the_first_and_one_memo_request_is_made(
    session_factory: sessionmaker[Session],
    sap: Sap,
    clock: FrozenClock,
    outbox_settings: Settings,
) -> None:
    locks = (KeyLocks(session_factory), KeyLocks(session_factory))
    assert locks[0].across_processes

    approved = _race(session_factory, sap, clock, outbox_settings, locks)

    # The second worker found the key held and left the message for later;
    # the first made the memo request but had lost its lease.
    message = support.message(session_factory, approved)
    assert message.status == OutboxStatus.PENDING
    assert "KeyBusy" in (message.last_error or "")
    assert len(sap.memos(_key(approved))) == 1
    assert support.credit(session_factory, approved).status == CreditStatus.POSTING

    clock.advance(timedelta(seconds=outbox_settings.outbox_backoff_max_seconds))
    later = _worker(session_factory, clock, outbox_settings, _adapters(sap, KeyLocks()))
    assert later.run_once() == 1

    _assert_posted_once(session_factory, sap, approved)


@pytest.mark.postgres
def test_without_a_shared_lock_the_same_race_makes_two(
    session_factory: sessionmaker[Session],
    sap: Sap,
    clock: FrozenClock,
    outbox_settings: Settings,
) -> None:
    # Locks of two processes with no database between them: each holds its
    # own, which is what the lookup alone amounted to.
    approved = _race(
        session_factory, sap, clock, outbox_settings, (KeyLocks(), KeyLocks())
    )

    assert len(sap.memos(_key(approved))) == 2
    credit = support.credit(session_factory, approved)
    assert credit.status == CreditStatus.POSTED
    assert support.message(session_factory, approved).status == OutboxStatus.DELIVERED


def test_a_key_is_held_by_one_holder_at_a_time(
    session_factory: sessionmaker[Session],
) -> None:
    first = KeyLocks(session_factory)
    # Two holders: another connection on PostgreSQL, another thread elsewhere.
    second = KeyLocks(session_factory) if first.across_processes else first

    with first.hold("outbox-1", retry_after_seconds=7):
        busy = pytest.raises(KeyBusy, match="another worker is sending outbox-1")
        with busy as refused, second.hold("outbox-1", retry_after_seconds=7):
            pass
        assert refused.value.retry_after_seconds == 7
        with second.hold("outbox-2", retry_after_seconds=7):
            pass

    with second.hold("outbox-1", retry_after_seconds=7):
        pass


def test_the_registry_shares_one_process_lock_without_postgresql(
    session_factory: sessionmaker[Session], sap: Sap
) -> None:
    first = build_adapter(sap.settings(), session_factory=session_factory)
    second = build_adapter(sap.settings(), session_factory=session_factory)

    if first._locks.across_processes:
        assert first._locks is not second._locks
    else:
        assert first._locks is second._locks
