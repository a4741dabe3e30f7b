"""The SAP S/4HANA adapter against its fake, over real HTTP.

Contract tests call the adapter directly; the end-to-end tests run the real
outbox worker with an adapter pointed at the fake.
"""

import dataclasses
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.accounts.models import Account, BillingSystem
from creditdesk.billing.adapters import (
    BillingAdapter,
    BillingRejectedError,
    BillingTransientError,
    PostingRequest,
    PostingResult,
)
from creditdesk.billing.registry import adapter_for
from creditdesk.billing.tasks import AdapterFactory, PostCredit, idempotency_key
from creditdesk.clock import FrozenClock
from creditdesk.config import Settings
from creditdesk.credits.models import CreditStatus
from creditdesk.db import transaction
from creditdesk.integrations.fakes.server import Fault, free_port, serve
from creditdesk.integrations.http import RetryPolicy
from creditdesk.integrations.sap import SapAdapter, SapSettings, build_adapter
from creditdesk.integrations.sap.adapter import ENTITY_SET, SERVICE_PATH
from creditdesk.integrations.sap.fake import FakeSap, create_app
from creditdesk.integrations.sap.mapping import memo_request
from creditdesk.outbox.errors import PermanentError
from creditdesk.outbox.locks import KeyLocks
from creditdesk.outbox.models import OutboxStatus
from creditdesk.outbox.registry import CREDIT_POST
from creditdesk.outbox.worker import Worker
from tests.billing import support
from tests.billing.support import Approved, CrashAfterPosting, SimulatedCrash

# Before every other suite's clock, so these workers claim only these
# messages; every test settles its messages so no other worker sees them.
START = datetime(1990, 3, 4, 5, 6, 7, tzinfo=UTC)
PREFIX = "creditdesk-"
TIMEOUT = 0.3


@dataclass
class Sap:
    fake: FakeSap
    url: str
    waits: list[float] = field(default_factory=list)

    def settings(self, **overrides: Any) -> SapSettings:
        values: dict[str, Any] = {
            "base_url": self.url,
            "username": self.fake.username,
            "password": SecretStr(self.fake.password),
            "sales_organization": "1010",
            "material": "CREDIT-ADJ",
            "timeout_seconds": TIMEOUT,
            # Below the 15 s the worker tests move the clock on by.
            "settle_seconds": 10,
            **overrides,
        }
        return SapSettings(_env_file=None, **values)  # type: ignore[call-arg]

    def adapter(self, *, locks: KeyLocks | None = None, **overrides: Any) -> SapAdapter:
        retry = RetryPolicy(attempts=3, base_seconds=0.01, max_wait_seconds=5)
        return build_adapter(
            self.settings(**overrides),
            sleep=self.waits.append,
            retry=retry,
            locks=locks,
        )

    def customer(self) -> str:
        sold_to = str(uuid.uuid4().int)[:10]
        assert self.fake.customers is not None
        self.fake.customers.add(sold_to)
        return sold_to

    def memos(self, key: str) -> list[dict[str, Any]]:
        return self.fake.by_reference(PREFIX + key)


@pytest.fixture(scope="module")
def server() -> Iterator[Sap]:
    fake = FakeSap(customers=set())
    with serve(create_app(fake)) as url:
        yield Sap(fake, url)


@pytest.fixture
def sap(server: Sap) -> Iterator[Sap]:
    server.waits.clear()
    yield server
    server.fake.faults.clear()


def _posting(sap: Sap, **overrides: Any) -> PostingRequest:
    number = f"BC-{uuid.uuid4().int % 10**6:06d}"
    values: dict[str, Any] = {
        "idempotency_key": f"outbox-{uuid.uuid4().int % 10**12}",
        "credit_id": 1,
        "credit_number": number,
        "account_number": "ACC-1",
        "external_account_id": sap.customer(),
        "amount_minor": 1_250,
        "currency": "GBP",
        "reason": "overcharge",
        "credit_type": "dispute",
        "invoice_ref": "90000123",
        "memo_text": f"Credit {number} (dispute, overcharge) against invoice 90000123",
    }
    values.update(overrides)
    return PostingRequest(**values)


# --- the calls, one by one ---------------------------------------------------


def test_a_credit_becomes_one_memo_request_with_the_documented_fields(
    sap: Sap,
) -> None:
    request = _posting(sap)

    result = sap.adapter().post_credit(request)

    [memo] = sap.memos(request.idempotency_key)
    assert result == PostingResult(memo["CreditMemoRequest"], False, "A")
    assert {k: v for k, v in memo.items() if k != "to_Item"} == {
        "CreditMemoRequest": result.external_ref,
        "CreditMemoRequestType": "CR",
        "SalesOrganization": "1010",
        "DistributionChannel": "10",
        "OrganizationDivision": "00",
        "SoldToParty": request.external_account_id,
        "SDDocumentReason": "001",
        "PurchaseOrderByCustomer": PREFIX + request.idempotency_key,
        "ReferenceSDDocument": "90000123",
        "TransactionCurrency": "GBP",
    }
    [item] = memo["to_Item"]
    assert item["Material"] == "CREDIT-ADJ"
    assert (item["RequestedQuantity"], item["RequestedQuantityUnit"]) == ("1", "EA")
    assert item["CreditMemoRequestItemText"] == request.memo_text[:40]
    assert request.credit_number in item["CreditMemoRequestItemText"]
    assert item["to_PricingElement"] == [
        {
            "ConditionType": "PMP0",
            "ConditionRateValue": "12.50",
            "ConditionCurrency": "GBP",
        }
    ]


@pytest.mark.parametrize(
    ("currency", "minor", "sent"),
    [("GBP", 5, "0.05"), ("JPY", 1500, "1500"), ("BHD", 1250, "1.250")],
)
def test_amounts_go_as_decimal_strings_in_the_currencys_minor_unit(
    sap: Sap, currency: str, minor: int, sent: str
) -> None:
    request = _posting(sap, currency=currency, amount_minor=minor, invoice_ref=None)

    sap.adapter().post_credit(request)

    [memo] = sap.memos(request.idempotency_key)
    [element] = memo["to_Item"][0]["to_PricingElement"]
    assert element["ConditionRateValue"] == sent
    assert memo["TransactionCurrency"] == currency
    assert "ReferenceSDDocument" not in memo


def test_the_lookup_fetches_the_csrf_token_and_the_create_sends_it(
    sap: Sap,
) -> None:
    adapter = sap.adapter()
    before = sap.fake.csrf_fetches

    adapter.post_credit(_posting(sap))
    adapter.post_credit(_posting(sap))

    # One fetch, ridden on the first lookup; the token is kept until refused.
    assert sap.fake.csrf_fetches == before + 1


def test_a_write_without_the_token_and_its_session_is_refused(sap: Sap) -> None:
    auth = (sap.fake.username, sap.fake.password)
    with httpx.Client(base_url=sap.url, auth=auth) as client:
        fetched = client.get(f"{SERVICE_PATH}/", headers={"X-CSRF-Token": "Fetch"})
        token = fetched.headers["X-CSRF-Token"]
        client.cookies.clear()
        refused = client.post(ENTITY_SET, json={}, headers={"X-CSRF-Token": token})

    assert refused.status_code == 403
    assert refused.headers["X-CSRF-Token"] == "Required"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"ConditionRateValue": 12.5}, "'ConditionRateValue' must be a JSON string"),
        ({"ConditionPrice": "12.50"}, "Property 'ConditionPrice' is invalid"),
    ],
)
def test_the_fake_refuses_what_saps_gateway_refuses(
    sap: Sap, change: dict[str, Any], error: str
) -> None:
    body = memo_request(sap.settings(), _posting(sap))
    body["to_Item"]["results"][0]["to_PricingElement"]["results"][0].update(change)
    auth = (sap.fake.username, sap.fake.password)
    with httpx.Client(base_url=sap.url, auth=auth) as client:
        fetched = client.get(f"{SERVICE_PATH}/", headers={"X-CSRF-Token": "Fetch"})
        token = fetched.headers["X-CSRF-Token"]
        refused = client.post(ENTITY_SET, json=body, headers={"X-CSRF-Token": token})

    assert refused.status_code == 400
    assert error in refused.json()["error"]["message"]["value"]


def test_a_stale_token_is_fetched_again_once(sap: Sap) -> None:
    adapter = sap.adapter()
    adapter.post_credit(_posting(sap))
    sap.fake.end_sessions()
    before = sap.fake.csrf_fetches
    request = _posting(sap)

    result = adapter.post_credit(request)

    [memo] = sap.memos(request.idempotency_key)
    assert memo["CreditMemoRequest"] == result.external_ref
    assert sap.fake.csrf_fetches == before + 1


def test_a_token_refused_twice_is_transient_and_creates_nothing(sap: Sap) -> None:
    sap.fake.refuse_csrf(2)
    request = _posting(sap)

    with pytest.raises(BillingTransientError, match="CSRF"):
        sap.adapter().post_credit(request)

    assert sap.memos(request.idempotency_key) == []


def test_an_odata_error_is_a_refusal_carrying_saps_message(sap: Sap) -> None:
    request = _posting(sap, external_account_id="UNKNOWN1")

    with pytest.raises(BillingRejectedError) as raised:
        sap.adapter().post_credit(request)

    assert str(raised.value) == (
        "sap: 400: Sold-to party UNKNOWN1 is not defined for sales area "
        "1010/10/00 (V1/390)"
    )
    assert sap.memos(request.idempotency_key) == []


def test_a_403_that_is_not_about_the_token_is_a_refusal(sap: Sap) -> None:
    body = (
        '{"error": {"code": "/IWBEP/CM_MGW_RT/022", "message": {"lang": "en", '
        '"value": "No authorization for sales organization 1010"}}}'
    )
    sap.fake.faults.add(Fault("POST", ENTITY_SET, status=403, body=body))

    with pytest.raises(BillingRejectedError, match="No authorization for sales"):
        sap.adapter().post_credit(_posting(sap))


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"external_account_id": None}, "has no external account id"),
        ({"external_account_id": "12345678901"}, "longer than 10 characters"),
        ({"reason": "unheard_of"}, "no order reason is configured"),
        ({"invoice_ref": "INV-2024-000123"}, "ReferenceSDDocument"),
        ({"idempotency_key": "outbox-" + "9" * 20}, "PurchaseOrderByCustomer"),
    ],
)
def test_what_sap_cannot_take_is_refused_before_calling_it(
    sap: Sap, overrides: dict[str, Any], error: str
) -> None:
    before = sap.fake.csrf_fetches
    request = _posting(sap, **overrides)

    with pytest.raises(BillingRejectedError, match=error):
        sap.adapter().post_credit(request)

    assert sap.fake.csrf_fetches == before


def test_find_by_idempotency_key_finds_the_memo_request_of_that_key(
    sap: Sap,
) -> None:
    request = _posting(sap)
    adapter = sap.adapter()
    assert adapter.find_by_idempotency_key(request.idempotency_key) is None

    posted = adapter.post_credit(request)

    assert sap.adapter().find_by_idempotency_key(request.idempotency_key) == posted


def test_a_repeat_after_sap_accepted_returns_the_first_memo_request(
    sap: Sap,
) -> None:
    request = _posting(sap)
    first = sap.adapter().post_credit(request)

    # The worker died before committing; the next one posts again.
    again = sap.adapter().post_credit(request)

    assert again == first
    assert len(sap.memos(request.idempotency_key)) == 1


def test_a_lost_answer_is_found_by_the_next_attempt_not_created_twice(
    sap: Sap,
) -> None:
    request = _posting(sap)
    before = len(sap.fake.memo_requests)
    sap.fake.faults.add(
        Fault("POST", ENTITY_SET, kind="delay", delay_seconds=TIMEOUT * 3)
    )

    with pytest.raises(BillingTransientError, match="Timeout"):
        sap.adapter().post_credit(request)
    # SAP made it after we stopped waiting.
    assert sap.fake.wait_for_memo_requests(before + 1)

    again = sap.adapter().post_credit(request)

    [memo] = sap.memos(request.idempotency_key)
    assert again.external_ref == memo["CreditMemoRequest"]


def test_a_create_is_never_resent_in_process(sap: Sap) -> None:
    sap.fake.faults.add(Fault("POST", ENTITY_SET, status=503))
    request = _posting(sap)

    with pytest.raises(BillingTransientError, match="503"):
        sap.adapter().post_credit(request)

    assert sap.waits == []
    assert sap.memos(request.idempotency_key) == []


@pytest.mark.parametrize(
    ("fault", "waits"),
    [
        (Fault("GET", ENTITY_SET, status=503, retry_after="2"), [2.0]),
        (Fault("GET", ENTITY_SET, status=429, retry_after="1"), [1.0]),
    ],
)
def test_a_lookup_is_retried_in_process_honouring_retry_after(
    sap: Sap, fault: Fault, waits: list[float]
) -> None:
    sap.fake.faults.add(fault)
    request = _posting(sap)

    sap.adapter().post_credit(request)

    assert sap.waits == waits
    assert len(sap.memos(request.idempotency_key)) == 1


def test_a_malformed_lookup_answer_is_transient(sap: Sap) -> None:
    sap.fake.faults.add(Fault("GET", ENTITY_SET, kind="malformed"))

    with pytest.raises(BillingTransientError, match="malformed"):
        sap.adapter().find_by_idempotency_key("outbox-1")


def test_oauth_tokens_are_fetched_and_fetched_again_when_refused(sap: Sap) -> None:
    adapter = sap.adapter(
        auth_mode="oauth",
        client_id=sap.fake.client_id,
        client_secret=SecretStr(sap.fake.client_secret),
    )
    before = len(sap.fake.tokens_issued)
    adapter.post_credit(_posting(sap))
    sap.fake.revoke_tokens()
    request = _posting(sap)

    adapter.post_credit(request)

    assert len(sap.fake.tokens_issued) == before + 2
    assert len(sap.memos(request.idempotency_key)) == 1


def test_a_wrong_password_is_a_refusal(sap: Sap) -> None:
    adapter = sap.adapter(password=SecretStr("wrong"))

    with pytest.raises(BillingRejectedError, match="401"):
        adapter.post_credit(_posting(sap))


def test_incomplete_settings_are_not_configured(sap: Sap) -> None:
    assert sap.settings().is_configured
    assert not sap.settings(sales_organization="").is_configured
    assert not sap.settings(password=None).is_configured
    assert not sap.settings(auth_mode="oauth").is_configured
    with pytest.raises(PermanentError, match="'sap' is not configured"):
        build_adapter(sap.settings(material=""))


def test_the_registry_builds_the_adapter_from_the_environment(
    sap: Sap,
    monkeypatch: pytest.MonkeyPatch,
    session_factory: sessionmaker[Session],
) -> None:
    def build() -> BillingAdapter:
        return adapter_for(
            BillingSystem.SAP,
            session_factory=session_factory,
            settings=Settings(env="test"),
            clock=FrozenClock(START),
        )

    for name in ("BASE_URL", "USERNAME", "PASSWORD", "SALES_ORGANIZATION"):
        monkeypatch.delenv(f"CREDITDESK_SAP_{name}", raising=False)
    with pytest.raises(PermanentError, match="'sap' is not configured"):
        build()

    monkeypatch.setenv("CREDITDESK_SAP_BASE_URL", sap.url)
    monkeypatch.setenv("CREDITDESK_SAP_USERNAME", sap.fake.username)
    monkeypatch.setenv("CREDITDESK_SAP_PASSWORD", sap.fake.password)
    monkeypatch.setenv("CREDITDESK_SAP_SALES_ORGANIZATION", "1010")
    monkeypatch.setenv("CREDITDESK_SAP_MATERIAL", "CREDIT-ADJ")
    monkeypatch.setenv("CREDITDESK_SAP_ORDER_REASONS", '{"overcharge": "A01"}')
    adapter = build()

    request = _posting(sap)
    adapter.post_credit(request)
    [memo] = sap.memos(request.idempotency_key)
    assert memo["SDDocumentReason"] == "A01"


# --- through the outbox worker -----------------------------------------------


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def outbox_settings() -> Settings:
    return Settings(
        env="test",
        worker_lease_seconds=30,
        outbox_max_attempts=3,
        outbox_backoff_base_seconds=5,
        outbox_backoff_max_seconds=10,
    )


def _approved(factory: sessionmaker[Session], sap: Sap, now: datetime) -> Approved:
    approved = support.make_approved_credit(factory, now=now, system=BillingSystem.SAP)
    with transaction(factory) as session:
        account = session.get_one(Account, approved.account_id)
        account.external_account_id = sap.customer()
    return approved


def _worker(
    factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    adapters: AdapterFactory,
    name: str = "sap-test",
) -> Worker:
    handlers = {CREDIT_POST: PostCredit(adapters)}
    return Worker(factory, clock=clock, settings=settings, name=name, handlers=handlers)


def _adapters(sap: Sap, **overrides: Any) -> AdapterFactory:
    def factory(*_args: Any, **_kwargs: Any) -> BillingAdapter:
        return sap.adapter(**overrides)

    return factory


def _key(approved: Approved) -> str:
    return idempotency_key(approved.message_id)


def _assert_posted_once(
    factory: sessionmaker[Session], sap: Sap, approved: Approved
) -> None:
    [memo] = sap.memos(_key(approved))
    credit = support.credit(factory, approved)
    assert credit.status == CreditStatus.POSTED
    assert credit.external_ref == memo["CreditMemoRequest"]
    assert support.message(factory, approved).status == OutboxStatus.DELIVERED


def test_an_approved_credit_is_posted_to_sap_as_a_memo_request(
    session_factory: sessionmaker[Session],
    sap: Sap,
    clock: FrozenClock,
    outbox_settings: Settings,
) -> None:
    approved = _approved(session_factory, sap, clock())

    _worker(session_factory, clock, outbox_settings, _adapters(sap)).run_once()

    _assert_posted_once(session_factory, sap, approved)
    [memo] = sap.memos(_key(approved))
    [element] = memo["to_Item"][0]["to_PricingElement"]
    assert element["ConditionRateValue"] == "12.50"
    # SAP bills the memo request later: the credit is posted, not applied.
    assert support.credit(session_factory, approved).applied_at is None


FAULTS = {
    "lookup 5xx twice": Fault("GET", ENTITY_SET, status=502, times=2),
    "create 5xx": Fault("POST", ENTITY_SET, status=503),
    "create 429": Fault("POST", ENTITY_SET, status=429, retry_after="1"),
    "lookup 429": Fault("GET", ENTITY_SET, status=429, retry_after="1"),
    "lookup too slow": Fault(
        "GET", ENTITY_SET, kind="delay", delay_seconds=TIMEOUT * 3
    ),
    "create answer lost": Fault(
        "POST", ENTITY_SET, kind="delay", delay_seconds=TIMEOUT * 3
    ),
    "lookup malformed": Fault("GET", ENTITY_SET, kind="malformed"),
    "create malformed": Fault("POST", ENTITY_SET, kind="malformed"),
    "create answer cut off": Fault("POST", ENTITY_SET, kind="reset"),
    "lookup answer cut off": Fault("GET", ENTITY_SET, kind="reset", times=3),
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_every_fault_is_retried_and_posts_exactly_one_memo_request(
    session_factory: sessionmaker[Session],
    sap: Sap,
    clock: FrozenClock,
    outbox_settings: Settings,
    fault: Fault,
) -> None:
    approved = _approved(session_factory, sap, clock())
    # A copy: a fault counts down as it fires.
    sap.fake.faults.add(dataclasses.replace(fault))
    worker = _worker(session_factory, clock, outbox_settings, _adapters(sap))

    _run_until_settled(worker, clock, session_factory, approved, sap)

    _assert_posted_once(session_factory, sap, approved)


def _run_until_settled(
    worker: Worker,
    clock: FrozenClock,
    factory: sessionmaker[Session],
    approved: Approved,
    sap: Sap,
) -> None:
    for _ in range(3):
        created = len(sap.fake.memo_requests)
        worker.run_once()
        message = support.message(factory, approved)
        if message.status != OutboxStatus.PENDING:
            return
        if "Timeout" in (message.last_error or ""):
            # A create that outlived our timeout may still be running at SAP.
            sap.fake.wait_for_memo_requests(created + 1, timeout=TIMEOUT * 4)
        clock.advance(timedelta(seconds=15))
    pytest.fail("the message was not settled")


def test_a_closed_port_is_retried_and_posts_exactly_one_memo_request(
    session_factory: sessionmaker[Session],
    sap: Sap,
    clock: FrozenClock,
    outbox_settings: Settings,
) -> None:
    approved = _approved(session_factory, sap, clock())
    closed = _adapters(sap, base_url=f"http://127.0.0.1:{free_port()}")

    _worker(session_factory, clock, outbox_settings, closed).run_once()
    assert support.message(session_factory, approved).status == OutboxStatus.PENDING
    assert "ConnectError" in (
        support.message(session_factory, approved).last_error or ""
    )

    clock.advance(timedelta(seconds=15))
    _worker(session_factory, clock, outbox_settings, _adapters(sap)).run_once()

    _assert_posted_once(session_factory, sap, approved)


def test_an_expired_oauth_token_is_refreshed_and_posts_one_memo_request(
    session_factory: sessionmaker[Session],
    sap: Sap,
    clock: FrozenClock,
    outbox_settings: Settings,
) -> None:
    approved = _approved(session_factory, sap, clock())
    oauth = {
        "auth_mode": "oauth",
        "client_id": sap.fake.client_id,
        "client_secret": SecretStr(sap.fake.client_secret),
    }
    adapter = sap.adapter(**oauth)
    adapter.find_by_idempotency_key("outbox-0")  # holds a token from now on
    sap.fake.revoke_tokens()
    before = len(sap.fake.tokens_issued)

    worker = _worker(session_factory, clock, outbox_settings, lambda *a, **k: adapter)
    worker.run_once()

    _assert_posted_once(session_factory, sap, approved)
    assert len(sap.fake.tokens_issued) == before + 1


def test_a_validation_error_fails_the_credit_with_saps_message(
    session_factory: sessionmaker[Session],
    sap: Sap,
    clock: FrozenClock,
    outbox_settings: Settings,
) -> None:
    approved = _approved(session_factory, sap, clock())
    with transaction(session_factory) as session:
        session.get_one(Account, approved.account_id).external_account_id = "NOSUCH"

    _worker(session_factory, clock, outbox_settings, _adapters(sap)).run_once()

    credit = support.credit(session_factory, approved)
    message = support.message(session_factory, approved)
    assert credit.status == CreditStatus.POSTING_FAILED
    assert "Sold-to party NOSUCH is not defined for sales area" in (
        credit.last_error or ""
    )
    assert message.status == OutboxStatus.DEAD
    assert message.attempts == 1
    assert sap.memos(_key(approved)) == []


def test_a_crash_after_sap_accepted_posts_exactly_one_memo_request(
    session_factory: sessionmaker[Session],
    sap: Sap,
    clock: FrozenClock,
    outbox_settings: Settings,
) -> None:
    approved = _approved(session_factory, sap, clock())

    def crashing(*_args: Any, **_kwargs: Any) -> BillingAdapter:
        return CrashAfterPosting(sap.adapter())

    with pytest.raises(SimulatedCrash):
        _worker(session_factory, clock, outbox_settings, crashing).run_once()
    assert len(sap.memos(_key(approved))) == 1
    assert support.credit(session_factory, approved).status == CreditStatus.POSTING

    clock.advance(timedelta(seconds=outbox_settings.worker_lease_seconds))
    survivor = _worker(
        session_factory, clock, outbox_settings, _adapters(sap), name="survivor"
    )
    assert survivor.run_once() == 1

    _assert_posted_once(session_factory, sap, approved)
    assert support.message(session_factory, approved).attempts == 2
