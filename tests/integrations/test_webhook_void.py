"""Reversing a voided credit at a webhook receiver: the adapter's contract
against the fake receiver over real HTTP, and the outbox worker taking a
credit from ``voiding`` to ``voided`` through faults, refusals and a crash.
"""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.accounts.models import BillingSystem
from creditdesk.actors import Actor, Channel
from creditdesk.audit.models import AuditEntry
from creditdesk.billing.adapters import (
    BillingRejectedError,
    BillingTransientError,
    PostingRequest,
    VoidRequest,
    VoidResult,
)
from creditdesk.billing.registry import adapter_for
from creditdesk.billing.reversals import VoidCredit
from creditdesk.billing.tasks import PostCredit, idempotency_key
from creditdesk.clock import FrozenClock
from creditdesk.config import Settings
from creditdesk.credits import lifecycle
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.credits.voids import VOID_TOPIC
from creditdesk.db import transaction
from creditdesk.integrations.fakes.server import Fault, serve
from creditdesk.integrations.http import RetryPolicy
from creditdesk.integrations.webhook import fake
from creditdesk.integrations.webhook.adapter import WebhookAdapter
from creditdesk.integrations.webhook.fake import Receiver
from creditdesk.outbox import service as outbox
from creditdesk.outbox.models import OutboxMessage, OutboxStatus
from creditdesk.outbox.registry import CREDIT_POST
from creditdesk.outbox.worker import Worker
from tests.billing import support
from tests.billing.support import SimulatedCrash

# Earlier than every other suite's clock, so these workers see only the
# messages these tests queue; every test settles what it queues.
START = datetime(1977, 3, 4, 5, 6, 7, tzinfo=UTC)
SECRET = "fake-webhook-void-secret"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Receiver, str]]:
    receiver = Receiver(secret=SECRET)
    with serve(fake.create_app(receiver)) as url:
        yield receiver, url


@pytest.fixture
def receiver(served: tuple[Receiver, str], clock: FrozenClock) -> Iterator[Receiver]:
    receiver, _ = served
    receiver.clock = clock
    receiver.faults.clear()
    yield receiver
    receiver.faults.clear()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def adapter(served: tuple[Receiver, str], clock: FrozenClock) -> WebhookAdapter:
    return _adapter(served[1] + fake.PATH, clock)


def _adapter(url: str, clock: FrozenClock, secret: str = SECRET) -> WebhookAdapter:
    return WebhookAdapter(
        url=url,
        secret=secret,
        clock=clock,
        timeout_seconds=0.5,
        retry=RetryPolicy(attempts=3, base_seconds=0.01),
        sleep=lambda _: None,
    )


# The contract ------------------------------------------------------------

_numbers = iter(range(1, 10**9))


def _posted(receiver: Receiver, adapter: WebhookAdapter) -> VoidRequest:
    """A credit posted to the receiver, and the request that reverses it."""
    n = next(_numbers)
    posting = PostingRequest(
        idempotency_key=f"void-test-post-{n}",
        credit_id=n,
        credit_number=f"BC-V{n:05d}",
        account_number=f"ACC-WV-{n}",
        external_account_id="cust-7",
        amount_minor=4_200,
        currency="GBP",
        reason="outage",
        credit_type="goodwill",
        invoice_ref=None,
        memo_text=f"Credit BC-V{n:05d} (goodwill, outage)",
    )
    posted = adapter.post_credit(posting)
    return VoidRequest(
        idempotency_key=f"void-test-void-{n}",
        credit_id=n,
        credit_number=posting.credit_number,
        account_number=posting.account_number,
        external_account_id=posting.external_account_id,
        external_ref=posted.external_ref,
        amount_minor=posting.amount_minor,
        currency=posting.currency,
        memo_text=f"Credit {posting.credit_number} voided",
    )


def _variant(request: VoidRequest, **changes: Any) -> VoidRequest:
    return VoidRequest(**(_fields(request) | changes))


def _fields(request: VoidRequest) -> dict[str, Any]:
    return {name: getattr(request, name) for name in VoidRequest.__slots__}


def test_the_reversal_is_posted_signed_naming_the_posting(
    receiver: Receiver, adapter: WebhookAdapter
) -> None:
    request = _posted(receiver, adapter)

    result = adapter.void_credit(request)

    reversal = receiver.reversal_of(request.external_ref)
    assert reversal is not None
    assert result == VoidResult(
        external_ref=request.external_ref,
        raw_status="reversed",
        reversal_ref=reversal["reference"],
    )
    assert reversal["reference"].startswith("WHR-")
    assert request.idempotency_key in receiver.deliveries


def test_a_repeated_reversal_key_answers_the_same_and_reverses_once(
    receiver: Receiver, adapter: WebhookAdapter, clock: FrozenClock
) -> None:
    request = _posted(receiver, adapter)

    first = adapter.void_credit(request)
    clock.advance(timedelta(minutes=1))
    second = adapter.void_credit(request)

    assert second == first
    assert receiver.deliveries.count(request.idempotency_key) == 2
    status, _ = receiver.reversal_answers[request.idempotency_key]
    assert status == 201


def test_a_second_key_for_the_same_posting_gets_the_first_reversal(
    receiver: Receiver, adapter: WebhookAdapter
) -> None:
    request = _posted(receiver, adapter)
    first = adapter.void_credit(request)

    again = adapter.void_credit(_variant(request, idempotency_key="another-key"))

    assert again == first
    assert receiver.reversal_answers["another-key"][0] == 200


def test_a_reversal_of_an_unknown_posting_is_refused(
    receiver: Receiver, adapter: WebhookAdapter
) -> None:
    request = _variant(_posted(receiver, adapter), external_ref="WH-UNKNOWN")

    with pytest.raises(BillingRejectedError, match=r"404.*no posting 'WH-UNKNOWN'"):
        adapter.void_credit(request)
    assert receiver.reversal_of("WH-UNKNOWN") is None


def test_a_reversal_of_another_amount_is_refused(
    receiver: Receiver, adapter: WebhookAdapter
) -> None:
    request = _posted(receiver, adapter)

    with pytest.raises(BillingRejectedError, match=r"422.*amount_minor"):
        adapter.void_credit(_variant(request, amount_minor=request.amount_minor + 1))
    assert receiver.reversal_of(request.external_ref) is None


def test_a_reversal_signed_with_another_secret_is_refused(
    receiver: Receiver, adapter: WebhookAdapter, clock: FrozenClock
) -> None:
    request = _posted(receiver, adapter)
    wrong = _adapter(str(adapter._url), clock, secret="not-the-secret")

    with pytest.raises(BillingRejectedError, match="401"):
        wrong.void_credit(request)
    assert receiver.reversal_of(request.external_ref) is None


def test_an_answer_naming_another_posting_is_refused(
    receiver: Receiver, adapter: WebhookAdapter
) -> None:
    request = _posted(receiver, adapter)
    answer = '{"reference": "WHR-9", "reverses": "WH-000000"}'
    receiver.faults.add(Fault("POST", fake.REVERSAL_PATH, status=201, body=answer))

    with pytest.raises(BillingRejectedError, match="not the posting"):
        adapter.void_credit(request)


@pytest.mark.parametrize(
    "fault",
    [
        Fault("POST", fake.REVERSAL_PATH, status=409, retry_after="7"),
        Fault("POST", fake.REVERSAL_PATH, status=503, times=3),
        Fault("POST", fake.REVERSAL_PATH, kind="malformed"),
    ],
    ids=["in flight", "5xx every try", "malformed"],
)
def test_transient_answers_are_left_for_the_outbox(
    receiver: Receiver, adapter: WebhookAdapter, fault: Fault
) -> None:
    request = _posted(receiver, adapter)
    receiver.faults.add(fault)

    with pytest.raises(BillingTransientError):
        adapter.void_credit(request)
    assert receiver.reversal_of(request.external_ref) is None


def test_the_reversal_url_defaults_beside_the_posting_url(
    monkeypatch: pytest.MonkeyPatch, clock: FrozenClock
) -> None:
    monkeypatch.setenv("CREDITDESK_WEBHOOK_URL", "https://example.invalid/credits/")
    monkeypatch.setenv("CREDITDESK_WEBHOOK_SECRET", "s3cret")
    options: dict[str, Any] = {
        "session_factory": None,
        "settings": Settings(env="test"),
        "clock": clock,
    }

    built = adapter_for(BillingSystem.WEBHOOK, **options)
    monkeypatch.setenv("CREDITDESK_WEBHOOK_REVERSAL_URL", "https://example.invalid/v")
    moved = adapter_for(BillingSystem.WEBHOOK, **options)

    assert isinstance(built, WebhookAdapter) and isinstance(moved, WebhookAdapter)
    assert built._reversal_url == "https://example.invalid/credits/reversals"
    assert moved._reversal_url == "https://example.invalid/v"


# Through the outbox worker ------------------------------------------------


@pytest.fixture
def settings() -> Settings:
    return Settings(
        env="test",
        worker_lease_seconds=30,
        outbox_max_attempts=5,
        outbox_backoff_base_seconds=5,
        outbox_backoff_max_seconds=10,
    )


class CrashAfterReversing:
    """The receiver reverses the posting, then our process dies before it
    commits; wraps the real adapter."""

    def __init__(self, real: WebhookAdapter) -> None:
        self.real = real

    def void_credit(self, request: VoidRequest) -> VoidResult:
        self.real.void_credit(request)
        raise SimulatedCrash


def _worker(
    factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    adapter: Any,
    name: str = "webhook-void-test",
) -> Worker:
    def adapters(*_args: Any, **_kwargs: Any) -> Any:
        return adapter

    handlers = {CREDIT_POST: PostCredit(adapters), VOID_TOPIC: VoidCredit(adapters)}
    return Worker(factory, clock=clock, settings=settings, name=name, handlers=handlers)


def _voiding(
    factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    adapter: WebhookAdapter,
) -> tuple[int, int, str]:
    """A credit posted through the worker, then voided as the void service
    does it; its id, its credit.void message's id and its posting's reference."""
    approved = support.make_approved_credit(
        factory, now=clock(), system=BillingSystem.WEBHOOK
    )
    assert _worker(factory, clock, settings, adapter).run_once() == 1
    with transaction(factory) as session:
        credit = lifecycle.load_for_update(session, approved.credit_id)
        assert credit.status is CreditStatus.APPLIED and credit.external_ref
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
        return credit.id, message.id, credit.external_ref


def _status(factory: sessionmaker[Session], credit_id: int) -> CreditStatus:
    with factory() as session:
        return session.get_one(BillingCredit, credit_id).status


def _message(factory: sessionmaker[Session], message_id: int) -> OutboxMessage:
    with factory() as session:
        return session.get_one(OutboxMessage, message_id)


def _reversed_entries(
    factory: sessionmaker[Session], credit_id: int
) -> list[dict[str, Any]]:
    with factory() as session:
        query = sa.select(AuditEntry.changes).where(
            AuditEntry.entity_type == "credit",
            AuditEntry.entity_id == str(credit_id),
            AuditEntry.action == "credit.reversed",
        )
        return [json.loads(changes) for changes in session.scalars(query)]


def _settle(
    worker: Worker, clock: FrozenClock, factory: sessionmaker[Session], message: int
) -> None:
    for _ in range(6):
        worker.run_once()
        if _message(factory, message).status != OutboxStatus.PENDING:
            return
        clock.advance(timedelta(seconds=60))


def _assert_voided_once(
    factory: sessionmaker[Session],
    receiver: Receiver,
    voiding: tuple[int, int, str],
) -> None:
    credit_id, message_id, reference = voiding
    reversal = receiver.reversal_of(reference)
    assert reversal is not None
    assert _status(factory, credit_id) is CreditStatus.VOIDED
    assert _message(factory, message_id).status is OutboxStatus.DELIVERED
    [entry] = _reversed_entries(factory, credit_id)
    assert entry["reversed_ref"] == [None, reference]
    assert entry["reversal_ref"] == [None, reversal["reference"]]
    key = idempotency_key(message_id)
    assert receiver.reversal_answers[key] == (201, reversal)


def test_a_voided_credit_is_reversed_at_the_receiver(
    session_factory: sessionmaker[Session],
    receiver: Receiver,
    adapter: WebhookAdapter,
    clock: FrozenClock,
    settings: Settings,
) -> None:
    voiding = _voiding(session_factory, clock, settings, adapter)
    assert _status(session_factory, voiding[0]) is CreditStatus.VOIDING

    assert _worker(session_factory, clock, settings, adapter).run_once() == 1

    _assert_voided_once(session_factory, receiver, voiding)


FAULTS = {
    "5xx beyond the quick retries": Fault(
        "POST", fake.REVERSAL_PATH, status=502, times=3
    ),
    "429 with a long Retry-After": Fault(
        "POST", fake.REVERSAL_PATH, status=429, retry_after="30"
    ),
    "409 in flight": Fault("POST", fake.REVERSAL_PATH, status=409),
    "timeouts": Fault(
        "POST", fake.REVERSAL_PATH, kind="delay", delay_seconds=1.0, times=3
    ),
    "malformed answer": Fault("POST", fake.REVERSAL_PATH, kind="malformed"),
    "answer cut off every try": Fault(
        "POST", fake.REVERSAL_PATH, kind="reset", times=3
    ),
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_each_fault_is_retried_and_reverses_once(
    session_factory: sessionmaker[Session],
    receiver: Receiver,
    adapter: WebhookAdapter,
    clock: FrozenClock,
    settings: Settings,
    fault: Fault,
) -> None:
    voiding = _voiding(session_factory, clock, settings, adapter)
    receiver.faults.add(Fault(**vars(fault)))
    worker = _worker(session_factory, clock, settings, adapter)

    _settle(worker, clock, session_factory, voiding[1])

    _assert_voided_once(session_factory, receiver, voiding)
    assert _message(session_factory, voiding[1]).attempts == 2


def test_a_refused_reversal_is_left_for_billing_operations(
    session_factory: sessionmaker[Session],
    receiver: Receiver,
    adapter: WebhookAdapter,
    clock: FrozenClock,
    settings: Settings,
) -> None:
    credit_id, message_id, reference = _voiding(
        session_factory, clock, settings, adapter
    )
    # The receiver lost the posting: it cannot reverse what it does not know.
    del receiver.postings[reference]

    _worker(session_factory, clock, settings, adapter).run_once()

    message = _message(session_factory, message_id)
    assert (message.status, message.attempts) == (OutboxStatus.DEAD, 1)
    assert f"no posting '{reference}' to reverse" in (message.last_error or "")
    assert _status(session_factory, credit_id) is CreditStatus.VOIDING
    assert _reversed_entries(session_factory, credit_id) == []


def test_a_crash_after_the_receiver_reversed_reverses_once(
    session_factory: sessionmaker[Session],
    receiver: Receiver,
    adapter: WebhookAdapter,
    clock: FrozenClock,
    settings: Settings,
) -> None:
    voiding = _voiding(session_factory, clock, settings, adapter)
    crashing = _worker(session_factory, clock, settings, CrashAfterReversing(adapter))

    with pytest.raises(SimulatedCrash):
        crashing.run_once()
    assert _status(session_factory, voiding[0]) is CreditStatus.VOIDING
    clock.advance(timedelta(seconds=settings.worker_lease_seconds))
    survivor = _worker(session_factory, clock, settings, adapter, "survivor")
    assert survivor.run_once() == 1

    _assert_voided_once(session_factory, receiver, voiding)
    assert receiver.deliveries.count(idempotency_key(voiding[1])) == 2
