"""The Salesforce Billing adapter against the fake org, over real HTTP."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr
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
from creditdesk.db import transaction
from creditdesk.integrations.fakes.server import Fault, free_port, serve
from creditdesk.integrations.http import RetryPolicy
from creditdesk.integrations.salesforce import fake
from creditdesk.integrations.salesforce.adapter import SalesforceAdapter
from creditdesk.integrations.salesforce.client import SalesforceClient
from creditdesk.integrations.salesforce.fake_org import ALLOCATION, LINE, NOTE, Org
from creditdesk.integrations.salesforce.settings import SalesforceSettings
from creditdesk.outbox.errors import PermanentError
from creditdesk.outbox.models import OutboxStatus
from creditdesk.outbox.registry import CREDIT_POST
from creditdesk.outbox.worker import Worker
from tests.billing import support
from tests.billing.support import Approved, CrashAfterPosting, SimulatedCrash

# Earlier than the other suites' clocks, so these workers see only these
# messages; every test leaves its message settled.
START = datetime(1991, 5, 6, 7, 8, 9, tzinfo=UTC)
DATA = "/services/data/v60.0"
COMPOSITE = f"{DATA}/composite"
QUERY = f"{DATA}/query"
NOTES = f"{DATA}/sobjects/{NOTE}"


@dataclass
class FakeSalesforce:
    org: Org
    login_url: str
    instance_url: str


@pytest.fixture(scope="module")
def salesforce() -> Iterator[FakeSalesforce]:
    # Two servers over one org: the login host answers with the instance's
    # URL, so every data call must move there.
    org = Org()
    with serve(fake.create_app(org)) as instance, serve(fake.create_app(org)) as login:
        org.instance_url = instance
        yield FakeSalesforce(org, login, instance)


@pytest.fixture(autouse=True)
def _fresh_rules(salesforce: FakeSalesforce) -> Iterator[None]:
    salesforce.org.faults.clear()
    yield
    salesforce.org.faults.clear()
    salesforce.org.line_subtotal_limit = None
    salesforce.org.lose_composite_answers = 0


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def waits() -> list[float]:
    return []


def _settings(url: str, **overrides: Any) -> SalesforceSettings:
    values = {
        "login_url": url,
        "client_id": "creditdesk-fake",
        "client_secret": SecretStr("fake-secret"),
        "timeout_seconds": 0.5,
    } | overrides
    return SalesforceSettings(**values)


def _adapter(
    salesforce: FakeSalesforce,
    clock: FrozenClock,
    waits: list[float],
    **overrides: Any,
) -> SalesforceAdapter:
    settings = _settings(overrides.pop("url", salesforce.login_url), **overrides)
    client = SalesforceClient.connect(
        settings,
        retry=RetryPolicy(attempts=3, base_seconds=0.01),
        sleep=waits.append,
    )
    return SalesforceAdapter(client, settings=settings, clock=clock)


_keys = iter(range(1, 10**9))


def _request(org: Org, *, invoice: bool = True, **overrides: Any) -> PostingRequest:
    account_id = org.add_account()
    if invoice:
        org.add_invoice("INV-1001", account_id)
    values = {
        "idempotency_key": f"test-sf-{next(_keys)}-{account_id}",
        "credit_id": 1,
        "credit_number": "CR-1",
        "account_number": "ACC-1",
        "external_account_id": account_id,
        "amount_minor": 1_250,
        "currency": "GBP",
        "reason": "overcharge",
        "credit_type": "dispute",
        "invoice_ref": "INV-1001" if invoice else None,
        "memo_text": "Credit CR-1 (dispute, overcharge) against invoice INV-1001",
    } | overrides
    return PostingRequest(**values)


def _notes(org: Org, key: str) -> list[dict[str, Any]]:
    return [row for row in org.rows(NOTE) if row.get(org.key_field) == key]


# Contract: each call ----------------------------------------------------


def test_signs_in_at_the_login_url_and_calls_the_instance(
    salesforce: FakeSalesforce, clock: FrozenClock, waits: list[float]
) -> None:
    org = salesforce.org
    before = len(org.requests)

    _adapter(salesforce, clock, waits).post_credit(_request(org))

    seen = org.requests[before:]
    login_host = salesforce.login_url.removeprefix("http://")
    instance_host = salesforce.instance_url.removeprefix("http://")
    assert seen[0] == ("POST", login_host, "/services/oauth2/token")
    assert {host for _, host, _ in seen[1:]} == {instance_host}
    assert [(m, p.removeprefix(DATA)) for m, _, p in seen[1:]] == [
        ("GET", "/query"),
        ("POST", "/composite"),
        ("PATCH", f"/sobjects/{NOTE}/{_notes_of(org)[-1]['Id']}"),
    ]


def _notes_of(org: Org) -> list[dict[str, Any]]:
    return sorted(org.rows(NOTE), key=lambda row: row["Id"])


def test_one_composite_creates_the_note_line_and_allocation_then_posts(
    salesforce: FakeSalesforce, clock: FrozenClock, waits: list[float]
) -> None:
    org = salesforce.org
    request = _request(org)
    [invoice_line] = [
        row["Id"]
        for row in org.invoice_lines("INV-1001", request.external_account_id or "")
    ]

    result = _adapter(salesforce, clock, waits).post_credit(request)

    [note] = _notes(org, request.idempotency_key)
    assert result == PostingResult(note["Id"], applied=True, raw_status="Posted")
    assert note["blng__Account__c"] == request.external_account_id
    assert note["blng__CreditNoteDate__c"] == "1991-05-06"
    assert note["blng__Status__c"] == "Posted"
    assert note["blng__Notes__c"] == request.memo_text
    assert note["CurrencyIsoCode"] == "GBP"
    [line] = [r for r in org.rows(LINE) if r["blng__CreditNote__c"] == note["Id"]]
    assert line["blng__Subtotal__c"] == Decimal("12.50")
    [allocation] = [
        r for r in org.rows(ALLOCATION) if r["blng__CreditNoteLine__c"] == line["Id"]
    ]
    assert allocation["blng__InvoiceLine__c"] == invoice_line
    assert allocation["blng__Amount__c"] == Decimal("12.50")

    raw = org.composite_bodies[-1]
    assert b'"blng__Subtotal__c":12.50' in raw
    sent = json.loads(raw)
    assert sent["allOrNone"] is True
    assert [s["referenceId"] for s in sent["compositeRequest"]] == [
        "note",
        "line",
        "allocation",
    ]
    assert sent["compositeRequest"][1]["body"]["blng__CreditNote__c"] == "@{note.id}"


def test_without_an_invoice_the_note_is_posted_but_not_applied(
    salesforce: FakeSalesforce, clock: FrozenClock, waits: list[float]
) -> None:
    org = salesforce.org
    request = _request(org, invoice=False)

    result = _adapter(salesforce, clock, waits).post_credit(request)

    [note] = _notes(org, request.idempotency_key)
    assert result == PostingResult(note["Id"], applied=False, raw_status="Posted")
    assert not [
        r
        for r in org.rows(ALLOCATION)
        if r["blng__CreditNoteLine__c"]
        in {x["Id"] for x in org.rows(LINE) if x["blng__CreditNote__c"] == note["Id"]}
    ]


def test_a_single_currency_org_gets_no_currency_field(
    salesforce: FakeSalesforce, clock: FrozenClock, waits: list[float]
) -> None:
    org = salesforce.org
    request = _request(org, invoice=False)

    _adapter(salesforce, clock, waits, multi_currency=False).post_credit(request)

    [note] = _notes(org, request.idempotency_key)
    assert "CurrencyIsoCode" not in note


def test_find_by_idempotency_key(
    salesforce: FakeSalesforce, clock: FrozenClock, waits: list[float]
) -> None:
    adapter = _adapter(salesforce, clock, waits)
    request = _request(salesforce.org)
    posted = adapter.post_credit(request)

    assert adapter.find_by_idempotency_key(request.idempotency_key) == posted
    assert adapter.find_by_idempotency_key("outbox-never") is None
    # A quote in the key stays inside the SOQL string.
    assert adapter.find_by_idempotency_key("x' OR Name != 'y\\") is None


def test_an_expired_session_is_renewed_once(
    salesforce: FakeSalesforce, clock: FrozenClock, waits: list[float]
) -> None:
    org = salesforce.org
    adapter = _adapter(salesforce, clock, waits)
    adapter.post_credit(_request(org))
    issued = org.tokens_issued
    org.expire_sessions()

    request = _request(org)
    adapter.post_credit(request)

    assert org.tokens_issued == issued + 1
    assert len(_notes(org, request.idempotency_key)) == 1


def test_wrong_client_credentials_are_refused(
    salesforce: FakeSalesforce, clock: FrozenClock, waits: list[float]
) -> None:
    adapter = _adapter(salesforce, clock, waits, client_secret=SecretStr("nope"))

    with pytest.raises(BillingRejectedError, match="invalid_client"):
        adapter.find_by_idempotency_key("outbox-1")


def test_a_failed_part_rolls_the_whole_composite_back(
    salesforce: FakeSalesforce, clock: FrozenClock, waits: list[float]
) -> None:
    org = salesforce.org
    org.line_subtotal_limit = Decimal("10.00")
    request = _request(org)
    notes_before = len(org.rows(NOTE))

    with pytest.raises(BillingRejectedError) as refused:
        _adapter(salesforce, clock, waits).post_credit(request)

    message = str(refused.value)
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in message
    assert "over 10.00 need approval in Salesforce" in message
    assert "PROCESSING_HALTED" not in message
    assert len(org.rows(NOTE)) == notes_before
    assert _notes(org, request.idempotency_key) == []


def test_an_unknown_account_is_refused(
    salesforce: FakeSalesforce, clock: FrozenClock, waits: list[float]
) -> None:
    request = _request(
        salesforce.org, invoice=False, external_account_id="001000000000999ZZZ"
    )

    with pytest.raises(BillingRejectedError, match="INVALID_CROSS_REFERENCE_KEY"):
        _adapter(salesforce, clock, waits).post_credit(request)


def test_an_unknown_invoice_is_refused_before_anything_is_created(
    salesforce: FakeSalesforce, clock: FrozenClock, waits: list[float]
) -> None:
    org = salesforce.org
    request = _request(org, invoice_ref="INV-404")
    bodies = len(org.composite_bodies)

    with pytest.raises(BillingRejectedError, match="no invoice INV-404"):
        _adapter(salesforce, clock, waits).post_credit(request)
    assert len(org.composite_bodies) == bodies


def test_an_account_without_a_salesforce_id_is_refused(
    salesforce: FakeSalesforce, clock: FrozenClock, waits: list[float]
) -> None:
    request = _request(salesforce.org, external_account_id=None)

    with pytest.raises(BillingRejectedError, match="no Salesforce account id"):
        _adapter(salesforce, clock, waits).post_credit(request)


def test_a_lost_answer_is_found_by_its_duplicate_key(
    salesforce: FakeSalesforce, clock: FrozenClock, waits: list[float]
) -> None:
    org = salesforce.org
    adapter = _adapter(salesforce, clock, waits)
    request = _request(org)
    org.lose_composite_answers = 1

    with pytest.raises(BillingTransientError, match="504"):
        adapter.post_credit(request)
    [draft] = _notes(org, request.idempotency_key)
    assert draft["blng__Status__c"] == "Draft"
    assert adapter.find_by_idempotency_key(request.idempotency_key) is None
    assert waits == []  # a composite POST is never resent in-process

    result = adapter.post_credit(request)

    [note] = _notes(org, request.idempotency_key)
    assert note["Id"] == draft["Id"] == result.external_ref
    assert note["blng__Status__c"] == "Posted"
    assert result.applied
    assert len(org.rows(NOTE)) == len({n["Id"] for n in org.rows(NOTE)})


def test_the_request_limit_is_transient_and_other_403s_refuse(
    salesforce: FakeSalesforce, clock: FrozenClock, waits: list[float]
) -> None:
    adapter = _adapter(salesforce, clock, waits)
    limit = json.dumps(
        [
            {
                "message": "TotalRequests Limit exceeded.",
                "errorCode": "REQUEST_LIMIT_EXCEEDED",
            }
        ]
    )
    denied = json.dumps([{"message": "no access", "errorCode": "INSUFFICIENT_ACCESS"}])
    salesforce.org.faults.add(Fault("GET", QUERY, status=403, body=limit))
    salesforce.org.faults.add(Fault("GET", QUERY, status=403, body=denied))

    with pytest.raises(BillingTransientError, match="REQUEST_LIMIT_EXCEEDED"):
        adapter.find_by_idempotency_key("outbox-1")
    with pytest.raises(BillingRejectedError, match="INSUFFICIENT_ACCESS"):
        adapter.find_by_idempotency_key("outbox-1")


def test_reads_and_the_post_are_retried_in_process(
    salesforce: FakeSalesforce, clock: FrozenClock, waits: list[float]
) -> None:
    org = salesforce.org
    org.faults.add(Fault("GET", QUERY, status=503, retry_after="2"))
    org.faults.add(Fault("PATCH", NOTES, status=429, retry_after="1"))
    request = _request(org)

    result = _adapter(salesforce, clock, waits).post_credit(request)

    assert result.applied
    assert waits == [2.0, 1.0]


def test_a_malformed_query_answer_is_transient(
    salesforce: FakeSalesforce, clock: FrozenClock, waits: list[float]
) -> None:
    salesforce.org.faults.add(Fault("GET", QUERY, kind="malformed"))

    with pytest.raises(BillingTransientError, match="malformed"):
        _adapter(salesforce, clock, waits).find_by_idempotency_key("outbox-1")


def test_the_fake_understands_only_the_adapters_queries(
    salesforce: FakeSalesforce, clock: FrozenClock, waits: list[float]
) -> None:
    client = _adapter(salesforce, clock, waits)._client

    with pytest.raises(BillingRejectedError, match="MALFORMED_QUERY"):
        client.query("SELECT Id FROM Account")


def test_the_registry_builds_the_adapter_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, clock: FrozenClock
) -> None:
    options = {
        "session_factory": None,
        "settings": Settings(env="test"),
        "clock": clock,
    }
    with pytest.raises(PermanentError, match="'salesforce' is not configured"):
        adapter_for(BillingSystem.SALESFORCE, **options)  # type: ignore[arg-type]

    monkeypatch.setenv("CREDITDESK_SALESFORCE_LOGIN_URL", "https://example.invalid")
    monkeypatch.setenv("CREDITDESK_SALESFORCE_CLIENT_ID", "id")
    monkeypatch.setenv("CREDITDESK_SALESFORCE_CLIENT_SECRET", "secret")
    adapter = adapter_for(BillingSystem.SALESFORCE, **options)  # type: ignore[arg-type]
    again = adapter_for(BillingSystem.SALESFORCE, **options)  # type: ignore[arg-type]

    assert isinstance(adapter, SalesforceAdapter)
    assert adapter._client is again._client  # type: ignore[attr-defined]


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


def _approved(
    factory: sessionmaker[Session], clock: FrozenClock, org: Org, **options: Any
) -> Approved:
    approved = support.make_approved_credit(
        factory, now=clock(), system=BillingSystem.SALESFORCE, **options
    )
    account_id = org.add_account()
    org.add_invoice("INV-1001", account_id)
    with transaction(factory) as session:
        session.get_one(Account, approved.account_id).external_account_id = account_id
    return approved


def _worker(
    factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    adapters: Any,
    name: str = "salesforce-test",
) -> Worker:
    handlers = {CREDIT_POST: PostCredit(adapters)}
    return Worker(factory, clock=clock, settings=settings, name=name, handlers=handlers)


def _settle(
    worker: Worker, clock: FrozenClock, factory: sessionmaker[Session], a: Approved
) -> None:
    for _ in range(5):
        worker.run_once()
        if support.message(factory, a).status != OutboxStatus.PENDING:
            return
        clock.advance(timedelta(seconds=60))


def _assert_applied_once(
    factory: sessionmaker[Session], org: Org, approved: Approved
) -> None:
    key = idempotency_key(approved.message_id)
    [note] = _notes(org, key)
    credit = support.credit(factory, approved)
    assert credit.status == CreditStatus.APPLIED
    assert credit.external_ref == note["Id"]
    assert note["blng__Status__c"] == "Posted"
    assert support.message(factory, approved).status == OutboxStatus.DELIVERED


def test_an_approved_credit_is_posted_and_applied_in_salesforce(
    session_factory: sessionmaker[Session],
    salesforce: FakeSalesforce,
    clock: FrozenClock,
    waits: list[float],
    worker_settings: Settings,
) -> None:
    approved = _approved(session_factory, clock, salesforce.org)
    adapter = _adapter(salesforce, clock, waits)

    worker = _worker(session_factory, clock, worker_settings, lambda *a, **k: adapter)
    assert worker.run_once() == 1

    _assert_applied_once(session_factory, salesforce.org, approved)
    [note] = _notes(salesforce.org, idempotency_key(approved.message_id))
    number = support.credit(session_factory, approved).number
    assert note["blng__Notes__c"] == (
        f"Credit {number} (dispute, overcharge) against invoice INV-1001"
    )


FAULTS = {
    "5xx on the composite": [Fault("POST", COMPOSITE, status=503)],
    "429 with Retry-After": [Fault("POST", COMPOSITE, status=429, retry_after="3")],
    "delay beyond the timeout": [
        Fault("POST", COMPOSITE, kind="delay", delay_seconds=1.5)
    ],
    "malformed composite answer": [Fault("POST", COMPOSITE, kind="malformed")],
    "composite answer cut off": [Fault("POST", COMPOSITE, kind="reset")],
    "5xx on every read": [Fault("GET", QUERY, status=502, times=3)],
    "5xx on the token": [Fault("POST", "/services/oauth2/token", status=500, times=3)],
}


@pytest.mark.parametrize("faults", FAULTS.values(), ids=FAULTS.keys())
def test_each_fault_is_retried_and_posts_one_note(
    session_factory: sessionmaker[Session],
    salesforce: FakeSalesforce,
    clock: FrozenClock,
    waits: list[float],
    worker_settings: Settings,
    faults: list[Fault],
) -> None:
    approved = _approved(session_factory, clock, salesforce.org)
    for fault in faults:
        salesforce.org.faults.add(Fault(**vars(fault)))
    adapter = _adapter(salesforce, clock, waits)
    worker = _worker(session_factory, clock, worker_settings, lambda *a, **k: adapter)

    _settle(worker, clock, session_factory, approved)

    _assert_applied_once(session_factory, salesforce.org, approved)
    assert support.message(session_factory, approved).attempts == 2


def test_a_closed_port_then_the_org_posts_one_note(
    session_factory: sessionmaker[Session],
    salesforce: FakeSalesforce,
    clock: FrozenClock,
    waits: list[float],
    worker_settings: Settings,
) -> None:
    approved = _approved(session_factory, clock, salesforce.org)
    down = _adapter(salesforce, clock, waits, url=f"http://127.0.0.1:{free_port()}")
    adapters = iter([down, _adapter(salesforce, clock, waits)])
    worker = _worker(
        session_factory, clock, worker_settings, lambda *a, **k: next(adapters)
    )

    _settle(worker, clock, session_factory, approved)

    _assert_applied_once(session_factory, salesforce.org, approved)
    assert support.message(session_factory, approved).attempts == 2


def test_an_expired_session_is_renewed_during_a_posting(
    session_factory: sessionmaker[Session],
    salesforce: FakeSalesforce,
    clock: FrozenClock,
    waits: list[float],
    worker_settings: Settings,
) -> None:
    org = salesforce.org
    adapter = _adapter(salesforce, clock, waits)
    adapter.find_by_idempotency_key("outbox-warm-up")
    org.expire_sessions()
    issued = org.tokens_issued
    approved = _approved(session_factory, clock, org)

    _worker(session_factory, clock, worker_settings, lambda *a, **k: adapter).run_once()

    _assert_applied_once(session_factory, org, approved)
    assert org.tokens_issued == issued + 1


def test_a_salesforce_refusal_fails_the_posting_with_its_message(
    session_factory: sessionmaker[Session],
    salesforce: FakeSalesforce,
    clock: FrozenClock,
    waits: list[float],
    worker_settings: Settings,
) -> None:
    org = salesforce.org
    org.line_subtotal_limit = Decimal("5.00")
    approved = _approved(session_factory, clock, org)
    adapter = _adapter(salesforce, clock, waits)

    _worker(session_factory, clock, worker_settings, lambda *a, **k: adapter).run_once()

    credit = support.credit(session_factory, approved)
    message = support.message(session_factory, approved)
    assert credit.status == CreditStatus.POSTING_FAILED
    assert "over 5.00 need approval in Salesforce" in (credit.last_error or "")
    assert message.status == OutboxStatus.DEAD
    assert message.attempts == 1
    assert _notes(org, idempotency_key(approved.message_id)) == []


def test_a_lost_composite_answer_still_posts_one_note(
    session_factory: sessionmaker[Session],
    salesforce: FakeSalesforce,
    clock: FrozenClock,
    waits: list[float],
    worker_settings: Settings,
) -> None:
    org = salesforce.org
    org.lose_composite_answers = 1
    approved = _approved(session_factory, clock, org)
    adapter = _adapter(salesforce, clock, waits)
    worker = _worker(session_factory, clock, worker_settings, lambda *a, **k: adapter)

    _settle(worker, clock, session_factory, approved)

    _assert_applied_once(session_factory, org, approved)
    assert support.message(session_factory, approved).attempts == 2


def test_a_crash_after_salesforce_accepted_posts_one_note(
    session_factory: sessionmaker[Session],
    salesforce: FakeSalesforce,
    clock: FrozenClock,
    waits: list[float],
    worker_settings: Settings,
) -> None:
    org = salesforce.org
    approved = _approved(session_factory, clock, org)
    adapter = _adapter(salesforce, clock, waits)
    crashing = _worker(
        session_factory,
        clock,
        worker_settings,
        lambda *a, **k: CrashAfterPosting(adapter),
    )

    with pytest.raises(SimulatedCrash):
        crashing.run_once()
    clock.advance(timedelta(seconds=worker_settings.worker_lease_seconds))
    bodies = len(org.composite_bodies)
    survivor = _worker(
        session_factory, clock, worker_settings, lambda *a, **k: adapter, "survivor"
    )
    assert survivor.run_once() == 1

    _assert_applied_once(session_factory, org, approved)
    assert len(org.composite_bodies) == bodies  # found, not posted again
