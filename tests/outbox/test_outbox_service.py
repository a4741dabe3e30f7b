"""The outbox service: enqueue, claim with a lease, settle, back off, retry."""

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.actors import Actor, Channel
from creditdesk.audit.models import AuditEntry
from creditdesk.clock import FrozenClock
from creditdesk.config import Settings
from creditdesk.db import transaction
from creditdesk.errors import InvalidState, NotFound
from creditdesk.outbox import LeaseLost, service
from creditdesk.outbox.models import OutboxMessage, OutboxStatus

START = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
LEASE = 60
OPERATOR = Actor.system(Channel.CLI, name="ops:test")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def topic() -> str:
    return f"test.service.{uuid.uuid4().hex[:12]}"


@pytest.fixture
def settings() -> Settings:
    return Settings(
        env="test",
        outbox_max_attempts=4,
        outbox_backoff_base_seconds=10,
        outbox_backoff_max_seconds=60,
    )


def _enqueue(
    factory: sessionmaker[Session], topic: str, now: datetime, count: int = 1
) -> list[int]:
    with transaction(factory) as session:
        return [
            service.enqueue(session, topic=topic, payload={"n": n}, now=now).id
            for n in range(count)
        ]


def _claim(
    factory: sessionmaker[Session],
    topic: str,
    now: datetime,
    *,
    worker_id: str = "w1",
    limit: int = 10,
) -> list[service.Claim]:
    return service.claim(
        factory,
        worker_id=worker_id,
        limit=limit,
        now=now,
        lease_seconds=LEASE,
        topics=[topic],
    )


def _get(factory: sessionmaker[Session], message_id: int) -> OutboxMessage:
    with factory() as session:
        return service.get_message(session, message_id)


def test_enqueue_is_part_of_the_callers_transaction(
    session_factory: sessionmaker[Session], clock: FrozenClock, topic: str
) -> None:
    with session_factory() as session:
        message = service.enqueue(session, topic=topic, payload={"a": 1}, now=clock())
        assert message.id is not None
        assert message.status == OutboxStatus.PENDING
        session.rollback()

    assert _claim(session_factory, topic, clock()) == []

    [kept] = _enqueue(session_factory, topic, clock())
    [claimed] = _claim(session_factory, topic, clock())
    assert claimed == service.Claim(kept, topic, {"n": 0}, 1)


def test_claim_takes_due_messages_in_order_up_to_the_limit(
    session_factory: sessionmaker[Session], clock: FrozenClock, topic: str
) -> None:
    ids = _enqueue(session_factory, topic, clock(), count=3)
    [later] = _enqueue(session_factory, topic, clock() + timedelta(seconds=30))

    first = _claim(session_factory, topic, clock(), limit=2)
    rest = _claim(session_factory, topic, clock(), worker_id="w2")

    assert [c.id for c in first] == ids[:2]
    assert [c.id for c in rest] == ids[2:]
    message = _get(session_factory, ids[0])
    assert message.lease_owner == "w1"
    assert message.lease_expires_at == START + timedelta(seconds=LEASE)
    assert message.attempts == 1

    # Due now; the three claimed above are still leased.
    clock.advance(timedelta(seconds=30))
    assert [c.id for c in _claim(session_factory, topic, clock())] == [later]


def test_an_expired_lease_lets_another_worker_take_over(
    session_factory: sessionmaker[Session], clock: FrozenClock, topic: str
) -> None:
    [message_id] = _enqueue(session_factory, topic, clock())
    _claim(session_factory, topic, clock(), worker_id="w1")

    clock.advance(timedelta(seconds=LEASE - 1))
    assert _claim(session_factory, topic, clock(), worker_id="w2") == []

    clock.advance(timedelta(seconds=1))
    [again] = _claim(session_factory, topic, clock(), worker_id="w2")
    assert again.attempts == 2

    with transaction(session_factory) as session, pytest.raises(LeaseLost):
        service.mark_delivered(session, message_id, worker_id="w1", now=clock())
    with transaction(session_factory) as session:
        service.mark_delivered(session, message_id, worker_id="w2", now=clock())

    message = _get(session_factory, message_id)
    assert message.status == OutboxStatus.DELIVERED
    assert message.delivered_at == clock()
    assert message.lease_owner is None


def test_a_settled_message_cannot_be_settled_again(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    topic: str,
    settings: Settings,
) -> None:
    [message_id] = _enqueue(session_factory, topic, clock())
    _claim(session_factory, topic, clock())
    with transaction(session_factory) as session:
        service.mark_delivered(session, message_id, worker_id="w1", now=clock())

    with transaction(session_factory) as session, pytest.raises(LeaseLost):
        service.mark_failed(
            session,
            message_id,
            worker_id="w1",
            error="late",
            now=clock(),
            retry=True,
            settings=settings,
        )
    with session_factory() as session, pytest.raises(NotFound):
        service.mark_delivered(session, 10**12, worker_id="w1", now=clock())


def test_backoff_stays_within_the_full_jitter_window() -> None:
    rng = random.Random(7)
    for attempts in range(1, 12):
        ceiling = min(60.0, 10.0 * 2 ** (attempts - 1))
        delays = [
            service.backoff_seconds(attempts, base=10, cap=60, rng=rng)
            for _ in range(200)
        ]
        assert all(0.0 <= d <= ceiling for d in delays)
        # Full jitter spreads over the window rather than clustering at its top.
        assert min(delays) < ceiling * 0.1
        assert max(delays) > ceiling * 0.9

    assert service.backoff_seconds(10_000, base=10, cap=60, rng=rng) <= 60


class _Top(random.Random):
    """Always the top of the window, to watch the window itself grow."""

    def uniform(self, a: float, b: float) -> float:
        return b


def _fail_once(
    factory: sessionmaker[Session],
    message_id: int,
    settings: Settings,
    now: datetime,
    *,
    error: str = "boom",
    retry: bool = True,
    retry_after_seconds: float | None = None,
) -> OutboxMessage:
    with transaction(factory) as session:
        return service.mark_failed(
            session,
            message_id,
            worker_id="w1",
            error=error,
            now=now,
            retry=retry,
            settings=settings,
            retry_after_seconds=retry_after_seconds,
            rng=_Top(),
        )


def test_failures_back_off_exponentially_then_go_dead(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    topic: str,
    settings: Settings,
) -> None:
    [message_id] = _enqueue(session_factory, topic, clock())

    waits = []
    for _ in range(settings.outbox_max_attempts - 1):
        [claimed] = _claim(session_factory, topic, clock())
        assert claimed.id == message_id
        message = _fail_once(session_factory, message_id, settings, clock())
        assert message.status == OutboxStatus.PENDING
        assert message.lease_owner is None
        waits.append((message.available_at - clock()).total_seconds())
        assert _claim(session_factory, topic, clock()) == []
        clock.now = message.available_at

    assert waits == [10, 20, 40]
    [last] = _claim(session_factory, topic, clock())
    assert last.attempts == settings.outbox_max_attempts
    message = _fail_once(session_factory, message_id, settings, clock(), error="x")

    assert message.status == OutboxStatus.DEAD
    assert message.last_error == "x"
    clock.advance(timedelta(days=1))
    assert _claim(session_factory, topic, clock()) == []


def test_a_permanent_failure_is_dead_at_once_and_retry_after_is_a_floor(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    topic: str,
    settings: Settings,
) -> None:
    first, second = _enqueue(session_factory, topic, clock(), count=2)
    _claim(session_factory, topic, clock())

    dead = _fail_once(session_factory, first, settings, clock(), retry=False)
    later = _fail_once(
        session_factory, second, settings, clock(), retry_after_seconds=600
    )

    assert dead.status == OutboxStatus.DEAD
    assert dead.attempts == 1
    assert later.available_at == clock() + timedelta(seconds=600)


def test_an_error_is_kept_short(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    topic: str,
    settings: Settings,
) -> None:
    [message_id] = _enqueue(session_factory, topic, clock())
    _claim(session_factory, topic, clock())

    message = _fail_once(
        session_factory, message_id, settings, clock(), error="e" * 10**5
    )

    assert message.last_error == "e" * service.MAX_ERROR_CHARS


def _dead_message(
    factory: sessionmaker[Session], topic: str, now: datetime, settings: Settings
) -> int:
    [message_id] = _enqueue(factory, topic, now)
    _claim(factory, topic, now)
    _fail_once(factory, message_id, settings, now, retry=False)
    return message_id


def _audit(factory: sessionmaker[Session], message_id: int) -> list[AuditEntry]:
    with factory() as session:
        return list(
            session.scalars(
                sa.select(AuditEntry)
                .where(
                    AuditEntry.entity_type == service.ENTITY_TYPE,
                    AuditEntry.entity_id == str(message_id),
                )
                .order_by(AuditEntry.seq)
            )
        )


def test_a_dead_message_can_be_retried_with_fresh_attempts(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    topic: str,
    settings: Settings,
) -> None:
    message_id = _dead_message(session_factory, topic, clock(), settings)
    clock.advance(timedelta(hours=1))

    with transaction(session_factory) as session:
        service.retry_dead(
            session, message_id, actor=OPERATOR, now=clock(), reason="vendor is back"
        )
    [claimed] = _claim(session_factory, topic, clock())

    assert claimed.id == message_id
    assert claimed.attempts == 1
    [entry] = _audit(session_factory, message_id)
    assert entry.action == "outbox.retried"
    assert entry.actor_name == OPERATOR.name
    assert entry.reason == "vendor is back"

    with transaction(session_factory) as session, pytest.raises(InvalidState):
        service.retry_dead(session, message_id, actor=OPERATOR, now=clock())


def test_cancel_withdraws_a_message_but_not_one_in_flight(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    topic: str,
    settings: Settings,
) -> None:
    dead = _dead_message(session_factory, topic, clock(), settings)
    [in_flight] = _enqueue(session_factory, topic, clock())
    _claim(session_factory, topic, clock())

    with transaction(session_factory) as session:
        service.cancel(session, dead, actor=OPERATOR, now=clock())
    with transaction(session_factory) as session, pytest.raises(InvalidState):
        service.cancel(session, in_flight, actor=OPERATOR, now=clock())

    assert _get(session_factory, dead).status == OutboxStatus.CANCELLED
    assert [e.action for e in _audit(session_factory, dead)] == ["outbox.cancelled"]
    assert _get(session_factory, in_flight).status == OutboxStatus.PENDING

    clock.advance(timedelta(seconds=LEASE))
    with transaction(session_factory) as session:
        service.cancel(session, in_flight, actor=OPERATOR, now=clock())
    assert _claim(session_factory, topic, clock()) == []


def test_release_gives_a_claim_back_untouched(
    session_factory: sessionmaker[Session], clock: FrozenClock, topic: str
) -> None:
    [message_id] = _enqueue(session_factory, topic, clock())
    _claim(session_factory, topic, clock())

    with transaction(session_factory) as session:
        service.release(session, message_id, worker_id="w1")

    [again] = _claim(session_factory, topic, clock(), worker_id="w2")
    assert again.attempts == 1


def test_list_messages_filters_by_status_newest_first(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    topic: str,
    settings: Settings,
) -> None:
    dead = _dead_message(session_factory, topic, clock(), settings)
    pending = _enqueue(session_factory, topic, clock(), count=2)

    with session_factory() as session:
        newest = service.list_messages(session, limit=2)
        dead_ones = service.list_messages(session, status=OutboxStatus.DEAD)

    assert [m.id for m in newest] == pending[::-1]
    assert dead in [m.id for m in dead_ones]
    assert {m.status for m in dead_ones} == {OutboxStatus.DEAD}
