"""The webhook adapter and its signature, against the fake receiver."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.accounts.models import Account, BillingSystem
from creditdesk.billing.adapters import (
    BillingRejectedError,
    BillingTransientError,
    PostingRequest,
    PostingResult,
)
from creditdesk.billing.registry import adapter_for
from creditdesk.billing.tasks import PostCredit, idempotency_key
from creditdesk.clock import FrozenClock
from creditdesk.config import Settings
from creditdesk.credits.models import CreditStatus
from creditdesk.integrations.fakes.server import Fault, free_port, serve
from creditdesk.integrations.http import RetryPolicy
from creditdesk.integrations.signing import sign, verify_signature
from creditdesk.integrations.webhook import fake
from creditdesk.integrations.webhook.adapter import WebhookAdapter
from creditdesk.integrations.webhook.fake import Receiver
from creditdesk.outbox.errors import PermanentError
from creditdesk.outbox.models import OutboxStatus
from creditdesk.outbox.registry import CREDIT_POST
from creditdesk.outbox.worker import Worker
from tests.billing import support
from tests.billing.support import Approved, CrashAfterPosting, SimulatedCrash

# Earlier than the other suites' clocks (and not the Salesforce suite's).
START = datetime(1992, 6, 7, 8, 9, 10, tzinfo=UTC)
SECRET = "fake-webhook-secret"


@dataclass
class FakeReceiver:
    receiver: Receiver
    url: str


@pytest.fixture(scope="module")
def webhook() -> Iterator[FakeReceiver]:
    receiver = Receiver(secret=SECRET)
    with serve(fake.create_app(receiver)) as url:
        yield FakeReceiver(receiver, url + fake.PATH)


@pytest.fixture
def clock(webhook: FakeReceiver) -> Iterator[FrozenClock]:
    clock = FrozenClock(START)
    webhook.receiver.clock = clock
    webhook.receiver.faults.clear()
    yield clock
    webhook.receiver.faults.clear()
    webhook.receiver.applied = True


@pytest.fixture
def waits() -> list[float]:
    return []


def _adapter(
    webhook: FakeReceiver,
    clock: FrozenClock,
    waits: list[float],
    *,
    url: str | None = None,
    secret: str = SECRET,
) -> WebhookAdapter:
    return WebhookAdapter(
        url=url or webhook.url,
        secret=secret,
        clock=clock,
        timeout_seconds=0.5,
        retry=RetryPolicy(attempts=3, base_seconds=0.01),
        sleep=waits.append,
    )


_keys = iter(range(1, 10**9))


def _request(**overrides: Any) -> PostingRequest:
    n = next(_keys)
    values = {
        "idempotency_key": f"test-wh-{n}",
        "credit_id": n,
        "credit_number": f"BC-{n:06d}",
        "account_number": f"ACC-WH-{n}",
        "external_account_id": "cust-42",
        "amount_minor": 1_250,
        "currency": "GBP",
        "reason": "overcharge",
        "credit_type": "dispute",
        "invoice_ref": "INV-1001",
        "memo_text": "Credit (dispute, overcharge) against invoice INV-1001",
    } | overrides
    return PostingRequest(**values)


# The signature ----------------------------------------------------------

BODY = b'{"amount":"12.50"}'
SENT = START


def _stamp(at: datetime = SENT) -> str:
    return str(int(at.timestamp()))


def test_a_signature_verifies_with_the_same_secret_and_body() -> None:
    header = sign(SECRET, _stamp(), BODY)

    assert header.startswith("v1=")
    assert verify_signature(SECRET, _stamp(), BODY, header, now=SENT)
    assert verify_signature(SECRET.encode(), _stamp(), BODY, header, now=SENT)


def test_a_tampered_body_does_not_verify() -> None:
    header = sign(SECRET, _stamp(), BODY)

    assert not verify_signature(SECRET, _stamp(), b'{"amount":"99.50"}', header, SENT)


def test_a_wrong_secret_does_not_verify() -> None:
    header = sign("another-secret", _stamp(), BODY)

    assert not verify_signature(SECRET, _stamp(), BODY, header, SENT)


def test_a_stale_or_moved_timestamp_does_not_verify() -> None:
    header = sign(SECRET, _stamp(), BODY)
    later = SENT + timedelta(seconds=301)

    assert verify_signature(
        SECRET, _stamp(), BODY, header, SENT + timedelta(seconds=300)
    )
    assert not verify_signature(SECRET, _stamp(), BODY, header, later)
    assert not verify_signature(
        SECRET, _stamp(), BODY, header, SENT - timedelta(hours=1)
    )
    assert verify_signature(SECRET, _stamp(), BODY, header, later, tolerance=600)
    # The timestamp is signed too: moving it forward breaks the signature.
    assert not verify_signature(SECRET, _stamp(later), BODY, header, later)
    assert not verify_signature(SECRET, "soon", BODY, header, SENT)


def test_any_one_of_several_signatures_verifies() -> None:
    rotated = f"{sign('old-secret', _stamp(), BODY)}, {sign(SECRET, _stamp(), BODY)}"

    assert verify_signature(SECRET, _stamp(), BODY, rotated, SENT)
    assert not verify_signature(SECRET, _stamp(), BODY, "v0=abc", SENT)


# Contract ---------------------------------------------------------------


def test_the_credit_is_posted_signed_with_its_key(
    webhook: FakeReceiver, clock: FrozenClock, waits: list[float]
) -> None:
    request = _request()

    result = _adapter(webhook, clock, waits).post_credit(request)

    [credit] = webhook.receiver.credits_for(request.idempotency_key)
    _, answer = webhook.receiver.answers[request.idempotency_key]
    assert result == PostingResult(answer["reference"], True, "applied")
    assert credit == {
        "idempotency_key": request.idempotency_key,
        "credit_id": request.credit_id,
        "credit_number": request.credit_number,
        "account_number": request.account_number,
        "external_account_id": "cust-42",
        "amount": "12.50",
        "amount_minor": 1_250,
        "currency": "GBP",
        "credit_type": "dispute",
        "reason": "overcharge",
        "invoice_ref": "INV-1001",
        "memo_text": request.memo_text,
    }


def test_a_receiver_that_does_not_apply_says_so(
    webhook: FakeReceiver, clock: FrozenClock, waits: list[float]
) -> None:
    webhook.receiver.applied = False

    result = _adapter(webhook, clock, waits).post_credit(_request())

    assert (result.applied, result.raw_status) == (False, "accepted")


def test_a_repeated_key_replays_the_first_answer(
    webhook: FakeReceiver, clock: FrozenClock, waits: list[float]
) -> None:
    adapter = _adapter(webhook, clock, waits)
    request = _request()

    first = adapter.post_credit(request)
    clock.advance(timedelta(minutes=1))
    second = adapter.post_credit(request)

    assert second == first
    assert len(webhook.receiver.credits_for(request.idempotency_key)) == 1
    assert webhook.receiver.deliveries.count(request.idempotency_key) == 2
    assert adapter.find_by_idempotency_key(request.idempotency_key) is None


def test_in_flight_is_transient_and_keeps_retry_after(
    webhook: FakeReceiver, clock: FrozenClock, waits: list[float]
) -> None:
    webhook.receiver.faults.add(
        Fault("POST", fake.PATH, status=409, retry_after="7", body='{"error": "busy"}')
    )

    with pytest.raises(BillingTransientError, match="in flight") as raised:
        _adapter(webhook, clock, waits).post_credit(_request())
    assert raised.value.retry_after_seconds == 7.0


def test_5xx_and_429_are_retried_in_process(
    webhook: FakeReceiver, clock: FrozenClock, waits: list[float]
) -> None:
    webhook.receiver.faults.add(Fault("POST", fake.PATH, status=503))
    webhook.receiver.faults.add(Fault("POST", fake.PATH, status=429, retry_after="2"))
    request = _request()

    _adapter(webhook, clock, waits).post_credit(request)

    assert len(waits) == 2
    assert waits[1] == 2.0
    assert len(webhook.receiver.credits_for(request.idempotency_key)) == 1


def test_a_refusal_keeps_the_receivers_words(
    webhook: FakeReceiver, clock: FrozenClock, waits: list[float]
) -> None:
    request = _request()
    webhook.receiver.refused_accounts.add(request.account_number)

    with pytest.raises(BillingRejectedError, match=r"422.*closed in this billing"):
        _adapter(webhook, clock, waits).post_credit(request)
    assert waits == []


def test_a_wrong_secret_is_refused(
    webhook: FakeReceiver, clock: FrozenClock, waits: list[float]
) -> None:
    adapter = _adapter(webhook, clock, waits, secret="not-the-secret")

    with pytest.raises(BillingRejectedError, match="401"):
        adapter.post_credit(_request())


@pytest.mark.parametrize(
    "answer",
    ['{"applied": true}', '{"reference": ""}', '{"reference": "R", "applied": 1}'],
)
def test_an_answer_without_a_usable_reference_is_malformed(
    webhook: FakeReceiver, clock: FrozenClock, waits: list[float], answer: str
) -> None:
    webhook.receiver.faults.add(Fault("POST", fake.PATH, status=200, body=answer))

    with pytest.raises(BillingTransientError, match="malformed"):
        _adapter(webhook, clock, waits).post_credit(_request())


def test_the_registry_builds_the_adapter_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, clock: FrozenClock
) -> None:
    options: dict[str, Any] = {
        "session_factory": None,
        "settings": Settings(env="test"),
        "clock": clock,
    }
    with pytest.raises(PermanentError, match="'webhook' is not configured"):
        adapter_for(BillingSystem.WEBHOOK, **options)

    monkeypatch.setenv("CREDITDESK_WEBHOOK_URL", "https://example.invalid/credits")
    monkeypatch.setenv("CREDITDESK_WEBHOOK_SECRET", "s3cret")

    assert isinstance(adapter_for(BillingSystem.WEBHOOK, **options), WebhookAdapter)


# End to end through the outbox worker -----------------------------------


@pytest.fixture
def worker_settings() -> Settings:
    return Settings(
        env="test",
        worker_lease_seconds=30,
        outbox_max_attempts=5,
        outbox_backoff_base_seconds=5,
        outbox_backoff_max_seconds=10,
    )


def _worker(
    factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    adapters: Any,
    name: str = "webhook-test",
) -> Worker:
    handlers = {CREDIT_POST: PostCredit(adapters)}
    return Worker(factory, clock=clock, settings=settings, name=name, handlers=handlers)


def _approved(factory: sessionmaker[Session], clock: FrozenClock) -> Approved:
    return support.make_approved_credit(
        factory, now=clock(), system=BillingSystem.WEBHOOK
    )


def _settle(
    worker: Worker, clock: FrozenClock, factory: sessionmaker[Session], a: Approved
) -> None:
    for _ in range(5):
        worker.run_once()
        if support.message(factory, a).status != OutboxStatus.PENDING:
            return
        clock.advance(timedelta(seconds=60))


def _assert_applied_once(
    factory: sessionmaker[Session], webhook: FakeReceiver, approved: Approved
) -> None:
    key = idempotency_key(approved.message_id)
    [credit_sent] = webhook.receiver.credits_for(key)
    credit = support.credit(factory, approved)
    assert credit_sent["credit_id"] == approved.credit_id
    assert credit.status == CreditStatus.APPLIED
    reference = webhook.receiver.answers[key][1]["reference"]
    assert credit.external_ref == reference
    assert support.message(factory, approved).status == OutboxStatus.DELIVERED


def test_an_approved_credit_is_posted_to_the_receiver(
    session_factory: sessionmaker[Session],
    webhook: FakeReceiver,
    clock: FrozenClock,
    waits: list[float],
    worker_settings: Settings,
) -> None:
    approved = _approved(session_factory, clock)
    adapter = _adapter(webhook, clock, waits)

    _worker(session_factory, clock, worker_settings, lambda *a, **k: adapter).run_once()

    _assert_applied_once(session_factory, webhook, approved)


FAULTS = {
    "5xx three times": Fault("POST", fake.PATH, status=502, times=3),
    "429 with a long Retry-After": Fault(
        "POST", fake.PATH, status=429, retry_after="30"
    ),
    "409 in flight": Fault("POST", fake.PATH, status=409),
    "delay beyond the timeout": Fault(
        "POST", fake.PATH, kind="delay", delay_seconds=1.0, times=3
    ),
    "malformed answer": Fault("POST", fake.PATH, kind="malformed"),
    "answer cut off every try": Fault("POST", fake.PATH, kind="reset", times=3),
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_each_fault_is_retried_and_posts_once(
    session_factory: sessionmaker[Session],
    webhook: FakeReceiver,
    clock: FrozenClock,
    waits: list[float],
    worker_settings: Settings,
    fault: Fault,
) -> None:
    approved = _approved(session_factory, clock)
    webhook.receiver.faults.add(Fault(**vars(fault)))
    adapter = _adapter(webhook, clock, waits)
    worker = _worker(session_factory, clock, worker_settings, lambda *a, **k: adapter)

    _settle(worker, clock, session_factory, approved)

    _assert_applied_once(session_factory, webhook, approved)
    assert support.message(session_factory, approved).attempts == 2


def test_a_closed_port_then_the_receiver_posts_once(
    session_factory: sessionmaker[Session],
    webhook: FakeReceiver,
    clock: FrozenClock,
    waits: list[float],
    worker_settings: Settings,
) -> None:
    approved = _approved(session_factory, clock)
    closed = f"http://127.0.0.1:{free_port()}{fake.PATH}"
    adapters = iter(
        [_adapter(webhook, clock, waits, url=closed), _adapter(webhook, clock, waits)]
    )
    worker = _worker(
        session_factory, clock, worker_settings, lambda *a, **k: next(adapters)
    )

    _settle(worker, clock, session_factory, approved)

    _assert_applied_once(session_factory, webhook, approved)


def test_a_refusal_fails_the_posting_with_the_receivers_words(
    session_factory: sessionmaker[Session],
    webhook: FakeReceiver,
    clock: FrozenClock,
    waits: list[float],
    worker_settings: Settings,
) -> None:
    approved = _approved(session_factory, clock)
    with session_factory() as session:
        account = session.get_one(Account, approved.account_id)
        webhook.receiver.refused_accounts.add(account.number)
    adapter = _adapter(webhook, clock, waits)

    _worker(session_factory, clock, worker_settings, lambda *a, **k: adapter).run_once()

    credit = support.credit(session_factory, approved)
    message = support.message(session_factory, approved)
    assert credit.status == CreditStatus.POSTING_FAILED
    assert "closed in this billing system" in (credit.last_error or "")
    assert (message.status, message.attempts) == (OutboxStatus.DEAD, 1)


def test_a_crash_after_the_receiver_accepted_posts_once(
    session_factory: sessionmaker[Session],
    webhook: FakeReceiver,
    clock: FrozenClock,
    waits: list[float],
    worker_settings: Settings,
) -> None:
    approved = _approved(session_factory, clock)
    adapter = _adapter(webhook, clock, waits)
    crashing = _worker(
        session_factory,
        clock,
        worker_settings,
        lambda *a, **k: CrashAfterPosting(adapter),
    )

    with pytest.raises(SimulatedCrash):
        crashing.run_once()
    clock.advance(timedelta(seconds=worker_settings.worker_lease_seconds))
    survivor = _worker(
        session_factory, clock, worker_settings, lambda *a, **k: adapter, "survivor"
    )
    assert survivor.run_once() == 1

    _assert_applied_once(session_factory, webhook, approved)
    key = idempotency_key(approved.message_id)
    assert webhook.receiver.deliveries.count(key) == 2
