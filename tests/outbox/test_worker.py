"""The outbox worker: dispatch by topic, settle by outcome, start and stop."""

import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.clock import FrozenClock
from creditdesk.config import Settings
from creditdesk.db import transaction
from creditdesk.outbox import PermanentError, TransientError, service
from creditdesk.outbox.handlers import HandlerContext
from creditdesk.outbox.models import OutboxMessage, OutboxStatus
from creditdesk.outbox.worker import Worker

START = datetime(2001, 5, 6, 7, 8, 9, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def topic() -> str:
    return f"test.worker.{uuid.uuid4().hex[:12]}"


@pytest.fixture
def settings() -> Settings:
    return Settings(
        env="test",
        worker_batch_size=10,
        worker_poll_seconds=0.02,
        worker_lease_seconds=30,
        outbox_max_attempts=3,
        outbox_backoff_base_seconds=10,
        outbox_backoff_max_seconds=60,
    )


class Counting:
    """A handler that counts deliveries per message id and per worker."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_message: Counter[int] = Counter()
        self.by_worker: Counter[str] = Counter()
        self.contexts: list[HandlerContext] = []

    def __call__(self, context: HandlerContext) -> None:
        with self.lock:
            self.by_message[context.claim.id] += 1
            self.by_worker[context.worker_id] += 1
            self.contexts.append(context)


def _enqueue(
    factory: sessionmaker[Session], topic: str, now: datetime, count: int = 1
) -> list[int]:
    with transaction(factory) as session:
        return [
            service.enqueue(session, topic=topic, payload={"n": n}, now=now).id
            for n in range(count)
        ]


def _messages(factory: sessionmaker[Session], ids: list[int]) -> list[OutboxMessage]:
    with factory() as session:
        return list(
            session.scalars(
                sa.select(OutboxMessage)
                .where(OutboxMessage.id.in_(ids))
                .order_by(OutboxMessage.id)
            )
        )


def _worker(
    factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    handlers: dict,
    name: str = "test",
) -> Worker:
    return Worker(factory, clock=clock, settings=settings, name=name, handlers=handlers)


def test_run_once_delivers_a_batch_to_the_topics_handler(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    topic: str,
) -> None:
    ids = _enqueue(session_factory, topic, clock(), count=3)
    handler = Counting()
    worker = _worker(session_factory, clock, settings, {topic: handler})

    assert worker.run_once() == 3
    assert worker.run_once() == 0

    assert handler.by_message == dict.fromkeys(ids, 1)
    context = handler.contexts[0]
    assert context.claim.payload == {"n": 0}
    assert context.worker_id == worker.worker_id
    assert worker.worker_id.startswith("test-")
    assert context.settings is settings
    assert {m.status for m in _messages(session_factory, ids)} == {
        OutboxStatus.DELIVERED
    }


def test_a_worker_leaves_topics_it_has_no_handler_for(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    topic: str,
) -> None:
    [message_id] = _enqueue(session_factory, topic, clock())
    worker = _worker(session_factory, clock, settings, {f"{topic}.other": Counting()})

    assert worker.run_once() == 0
    [message] = _messages(session_factory, [message_id])
    assert message.status == OutboxStatus.PENDING
    assert message.attempts == 0


def _raising(exc: BaseException):
    def handler(_context: HandlerContext) -> None:
        raise exc

    return handler


def test_a_transient_error_schedules_a_retry(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    topic: str,
) -> None:
    [message_id] = _enqueue(session_factory, topic, clock())
    error = TransientError("vendor busy", retry_after_seconds=120)
    worker = _worker(session_factory, clock, settings, {topic: _raising(error)})

    assert worker.run_once() == 1

    [message] = _messages(session_factory, [message_id])
    assert message.status == OutboxStatus.PENDING
    assert message.available_at == clock() + timedelta(seconds=120)
    assert message.last_error == "TransientError: vendor busy"
    assert message.lease_owner is None


def test_an_unexpected_error_is_retried_until_dead(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    topic: str,
) -> None:
    [message_id] = _enqueue(session_factory, topic, clock())
    handler = _raising(ValueError("bad data"))
    worker = _worker(session_factory, clock, settings, {topic: handler})

    for _ in range(settings.outbox_max_attempts):
        assert worker.run_once() == 1
        clock.advance(timedelta(seconds=settings.outbox_backoff_max_seconds))

    [message] = _messages(session_factory, [message_id])
    assert message.status == OutboxStatus.DEAD
    assert message.attempts == settings.outbox_max_attempts
    assert message.last_error == "ValueError: bad data"
    assert worker.run_once() == 0


def test_an_error_is_kept_printable_and_short(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    topic: str,
) -> None:
    [message_id] = _enqueue(session_factory, topic, clock())
    handler = _raising(TransientError("bad\x00byte\n" + "x" * 5000))
    worker = _worker(session_factory, clock, settings, {topic: handler})

    worker.run_once()

    [message] = _messages(session_factory, [message_id])
    assert message.last_error is not None
    assert message.last_error.startswith("TransientError: bad?byte\nxxx")
    assert len(message.last_error) == 2000


def test_a_permanent_error_is_dead_at_once(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    topic: str,
) -> None:
    [message_id] = _enqueue(session_factory, topic, clock())
    handler = _raising(PermanentError("no such customer"))
    worker = _worker(session_factory, clock, settings, {topic: handler})

    worker.run_once()

    [message] = _messages(session_factory, [message_id])
    assert message.status == OutboxStatus.DEAD
    assert message.attempts == 1
    assert message.last_error == "PermanentError: no such customer"


def test_a_message_whose_leases_kept_expiring_goes_dead_unrun(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    topic: str,
) -> None:
    [message_id] = _enqueue(session_factory, topic, clock())
    for n in range(settings.outbox_max_attempts):
        # A worker claims it and dies holding the lease.
        service.claim(
            session_factory,
            worker_id=f"crashed-{n}",
            limit=1,
            now=clock(),
            lease_seconds=settings.worker_lease_seconds,
            topics=[topic],
        )
        clock.advance(timedelta(seconds=settings.worker_lease_seconds))
    handler = Counting()

    assert _worker(session_factory, clock, settings, {topic: handler}).run_once() == 1

    assert handler.by_message == {}
    [message] = _messages(session_factory, [message_id])
    assert message.status == OutboxStatus.DEAD
    assert message.last_error == "leases expired on every attempt"


class Mourning:
    """A handler that fails, and records through ``on_dead`` why it died."""

    def __init__(self, *, settle: bool = True, broken: bool = False) -> None:
        self.settle = settle
        self.broken = broken
        self.told: list[tuple[int, str]] = []

    def __call__(self, _context: HandlerContext) -> None:
        raise PermanentError("refused")

    def on_dead(self, context: HandlerContext, error: str) -> None:
        self.told.append((context.claim.id, error))
        if self.broken:
            raise RuntimeError("the hook itself failed")
        if self.settle:
            with transaction(context.session_factory) as session:
                context.mark_dead(session, f"mourned: {error}")


def _expire_every_lease(
    factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    topic: str,
) -> None:
    for n in range(settings.outbox_max_attempts):
        # A worker claims it and dies holding the lease.
        service.claim(
            factory,
            worker_id=f"crashed-{n}",
            limit=1,
            now=clock(),
            lease_seconds=settings.worker_lease_seconds,
            topics=[topic],
        )
        clock.advance(timedelta(seconds=settings.worker_lease_seconds))


def test_a_message_whose_leases_expired_tells_its_handlers_on_dead_hook(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    topic: str,
) -> None:
    [message_id] = _enqueue(session_factory, topic, clock())
    _expire_every_lease(session_factory, clock, settings, topic)
    handler = Mourning()

    assert _worker(session_factory, clock, settings, {topic: handler}).run_once() == 1

    assert handler.told == [(message_id, "leases expired on every attempt")]
    [message] = _messages(session_factory, [message_id])
    assert message.status == OutboxStatus.DEAD
    assert message.last_error == "mourned: leases expired on every attempt"


def test_the_on_dead_hook_hears_of_a_permanent_failure_too(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    topic: str,
) -> None:
    [message_id] = _enqueue(session_factory, topic, clock())
    handler = Mourning()

    _worker(session_factory, clock, settings, {topic: handler}).run_once()

    assert handler.told == [(message_id, "PermanentError: refused")]
    [message] = _messages(session_factory, [message_id])
    assert message.last_error == "mourned: PermanentError: refused"


@pytest.mark.parametrize("hook", [{"settle": False}, {"broken": True}])
def test_a_hook_that_does_not_settle_leaves_the_worker_to_dead_letter(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    topic: str,
    hook: dict,
) -> None:
    [message_id] = _enqueue(session_factory, topic, clock())
    _expire_every_lease(session_factory, clock, settings, topic)
    handler = Mourning(**hook)

    _worker(session_factory, clock, settings, {topic: handler}).run_once()

    assert len(handler.told) == 1
    [message] = _messages(session_factory, [message_id])
    assert message.status == OutboxStatus.DEAD
    assert message.last_error == "leases expired on every attempt"


def test_a_handler_may_settle_its_message_in_its_own_transaction(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    topic: str,
) -> None:
    ids = _enqueue(session_factory, topic, clock(), count=2)

    def handler(context: HandlerContext) -> None:
        with transaction(context.session_factory) as session:
            if context.claim.payload["n"] == 0:
                context.mark_delivered(session)
            else:
                context.mark_dead(session, "refused by the receiver")

    assert _worker(session_factory, clock, settings, {topic: handler}).run_once() == 2

    delivered, dead = _messages(session_factory, ids)
    assert delivered.status == OutboxStatus.DELIVERED
    assert dead.status == OutboxStatus.DEAD
    assert dead.last_error == "refused by the receiver"


def test_stopping_mid_batch_gives_the_rest_back(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    topic: str,
) -> None:
    ids = _enqueue(session_factory, topic, clock(), count=3)
    handler = Counting()

    def stop_after_first(context: HandlerContext) -> None:
        handler(context)
        worker.stop()

    worker = _worker(session_factory, clock, settings, {topic: stop_after_first})

    assert worker.run_once() == 1

    first, *rest = _messages(session_factory, ids)
    assert first.status == OutboxStatus.DELIVERED
    assert [(m.status, m.attempts, m.lease_owner) for m in rest] == [
        (OutboxStatus.PENDING, 0, None)
    ] * 2
    other = _worker(session_factory, clock, settings, {topic: handler}, name="other")
    assert other.run_once() == 2


def test_the_worker_gives_way_before_each_message(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    topic: str,
) -> None:
    _enqueue(session_factory, topic, clock(), count=3)
    order: list[str] = []

    def handler(context: HandlerContext) -> None:
        order.append(f"message {context.claim.payload['n']}")

    worker = Worker(
        session_factory,
        clock=clock,
        settings=settings,
        handlers={topic: handler},
        give_way=lambda: order.append("give way"),
    )

    assert worker.run_once() == 3
    assert order == [
        "give way",
        "message 0",
        "give way",
        "message 1",
        "give way",
        "message 2",
    ]


def test_start_delivers_in_the_background_and_stop_is_prompt(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    topic: str,
) -> None:
    settings = settings.model_copy(update={"worker_poll_seconds": 30})
    delivered = threading.Event()

    def handler(_context: HandlerContext) -> None:
        delivered.set()

    _enqueue(session_factory, topic, clock())
    worker = _worker(session_factory, clock, settings, {topic: handler})
    worker.start()
    try:
        assert delivered.wait(timeout=10)
        # The next poll finds nothing and waits 30 s: stop() must cut it short.
    finally:
        started = time.monotonic()
        worker.stop(timeout=5)
        elapsed = time.monotonic() - started

    assert elapsed < 2


@pytest.mark.postgres
def test_two_workers_deliver_each_message_exactly_once(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    topic: str,
) -> None:
    ids = _enqueue(session_factory, topic, clock(), count=200)
    handler = Counting()
    workers = [
        _worker(session_factory, clock, settings, {topic: handler}, name=f"w{n}")
        for n in range(2)
    ]
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def drain(worker: Worker) -> None:
        try:
            barrier.wait(timeout=10)
            while worker.run_once():
                pass
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert handler.by_message == dict.fromkeys(ids, 1)
    assert all(handler.by_worker[w.worker_id] > 0 for w in workers)
    assert {m.status for m in _messages(session_factory, ids)} == {
        OutboxStatus.DELIVERED
    }
