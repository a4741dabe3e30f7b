"""The Zuora adapter against the fake tenant, call by call, over real HTTP."""

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from creditdesk.billing.adapters import BillingRejectedError, BillingTransientError
from creditdesk.integrations.fakes.server import Fault
from tests.integrations import zuora_support as z


@pytest.fixture(scope="module")
def tenant() -> Iterator[z.Tenant]:
    with z.running_tenant() as running:
        yield running


def test_a_credit_without_an_invoice_is_a_posted_charge_memo(tenant: z.Tenant) -> None:
    account = tenant.account()
    asked = z.request(account, amount_minor=1_250, reason="retention")

    result = z.connect(tenant.url, tenant.clock).adapter.post_credit(asked)

    [memo] = tenant.fake.memos_with_key(asked.idempotency_key)
    assert (result.external_ref, result.applied) == (memo.number, False)
    assert result.raw_status == "Posted"
    assert memo.status == "Posted"
    assert memo.account == account
    assert memo.invoice is None
    assert memo.amount == Decimal("12.50")
    assert memo.reason_code == "Goodwill"
    assert memo.comment == asked.memo_text
    assert memo.effective_date == z.FAKE_START.date().isoformat()


def test_a_credit_naming_an_invoice_is_a_memo_applied_to_it(tenant: z.Tenant) -> None:
    account = tenant.account()
    invoice = tenant.invoice(account, "5.00", "10.00")
    asked = z.request(account, amount_minor=1_250, invoice=invoice, reason="overcharge")

    result = z.connect(tenant.url, tenant.clock).adapter.post_credit(asked)

    [memo] = tenant.fake.memos_with_key(asked.idempotency_key)
    assert (result.external_ref, result.applied) == (memo.number, True)
    assert memo.invoice == invoice
    assert memo.reason_code == "Correcting invoice error"
    assert memo.applied == memo.amount == Decimal("12.50")
    # The first item is credited in full, the rest comes off the second.
    assert [item.credited for item in invoice.items] == [Decimal(5), Decimal("7.5")]
    assert invoice.balance == Decimal("2.50")


def test_reason_codes_can_be_mapped_to_the_tenants_own(tenant: z.Tenant) -> None:
    account = tenant.account()
    tenant.fake.data.reason_codes.add("Retention offer")
    connected = z.connect(
        tenant.url, tenant.clock, reason_codes={"retention": "Retention offer"}
    )

    connected.adapter.post_credit(z.request(account, reason="retention"))

    assert tenant.fake.memos[-1].reason_code == "Retention offer"


def test_the_token_is_cached_and_fetched_again_once_it_expires(
    tenant: z.Tenant,
) -> None:
    account = tenant.account()
    adapter = z.connect(tenant.url, tenant.clock).adapter
    before = tenant.fake.token_requests

    adapter.post_credit(z.request(account))
    adapter.post_credit(z.request(account))
    assert tenant.fake.token_requests == before + 1

    tenant.clock.advance(timedelta(hours=1))  # past the token's expires_in
    adapter.post_credit(z.request(account))
    assert tenant.fake.token_requests == before + 2

    tenant.fake.expire_tokens()
    adapter.post_credit(z.request(account))
    assert tenant.fake.token_requests == before + 3


def test_the_same_key_replays_the_first_memo(tenant: z.Tenant) -> None:
    account = tenant.account()
    invoice = tenant.invoice(account, "40.00")
    asked = z.request(account, invoice=invoice)
    adapter = z.connect(tenant.url, tenant.clock).adapter
    created = tenant.fake.data.memos_created

    first = adapter.post_credit(asked)
    second = adapter.post_credit(asked)

    assert first == second
    assert tenant.fake.data.memos_created == created + 1
    assert invoice.balance == Decimal("27.50")


def test_a_key_still_in_flight_is_tried_again_later(tenant: z.Tenant) -> None:
    account = tenant.account()
    asked = z.request(account)
    adapter = z.connect(tenant.url, tenant.clock).adapter
    tenant.fake.hold_in_flight(asked.idempotency_key, "POST", "/v1/creditmemos")

    with pytest.raises(BillingTransientError, match=r"409.*still in progress"):
        adapter.post_credit(asked)
    assert tenant.fake.memos_with_key(asked.idempotency_key) == []

    tenant.fake.release(asked.idempotency_key)
    adapter.post_credit(asked)
    assert len(tenant.fake.memos_with_key(asked.idempotency_key)) == 1


def test_a_key_reused_for_another_amount_is_refused(tenant: z.Tenant) -> None:
    account = tenant.account()
    asked = z.request(account, amount_minor=1_000)
    adapter = z.connect(tenant.url, tenant.clock).adapter
    adapter.post_credit(asked)

    other = z.request(account, amount_minor=2_000, key=asked.idempotency_key)
    with pytest.raises(BillingRejectedError, match=r"422.*different request"):
        adapter.post_credit(other)

    [memo] = tenant.fake.memos_with_key(asked.idempotency_key)
    assert memo.amount == Decimal("10.00")


def test_a_retry_on_a_later_day_keeps_the_first_memo(tenant: z.Tenant) -> None:
    account = tenant.account()
    asked = z.request(account)
    adapter = z.connect(tenant.url, tenant.clock).adapter
    first = adapter.post_credit(asked)

    tenant.clock.advance(timedelta(hours=20))  # another effectiveDate, same key

    assert adapter.post_credit(asked) == first
    assert len(tenant.fake.memos_with_key(asked.idempotency_key)) == 1


def test_after_the_key_window_the_memo_is_found_by_its_custom_field(
    tenant: z.Tenant,
) -> None:
    account = tenant.account()
    invoice = tenant.invoice(account, "30.00")
    asked = z.request(account, invoice=invoice)
    adapter = z.connect(tenant.url, tenant.clock).adapter
    first = adapter.post_credit(asked)

    tenant.clock.advance(timedelta(hours=25))

    assert adapter.find_by_idempotency_key(asked.idempotency_key) == first
    assert adapter.find_by_idempotency_key("outbox-never-sent") is None
    assert len(tenant.fake.memos_with_key(asked.idempotency_key)) == 1


def test_a_memo_left_in_draft_is_posted_and_applied_when_found(
    tenant: z.Tenant,
) -> None:
    account = tenant.account()
    invoice = tenant.invoice(account, "30.00")
    asked = z.request(account, invoice=invoice)
    connected = z.connect(tenant.url, tenant.clock)
    tenant.fake.faults.add(Fault("PUT", "/v1/creditmemos/", status=500, times=3))

    with pytest.raises(BillingTransientError, match="500"):
        connected.adapter.post_credit(asked)
    [memo] = tenant.fake.memos_with_key(asked.idempotency_key)
    assert memo.status == "Draft"

    found = connected.adapter.find_by_idempotency_key(asked.idempotency_key)

    assert found is not None
    assert (found.external_ref, found.applied) == (memo.number, True)
    assert memo.status == "Posted"
    assert invoice.balance == Decimal("17.50")


@pytest.mark.parametrize(
    ("external_id", "currency", "error"),
    [
        (None, "GBP", "has no Zuora account id"),
        ("A-unknown", "GBP", "Cannot find entity by key: 'A-unknown'"),
        ("known", "EUR", "bills in GBP, not EUR"),
    ],
)
def test_an_account_zuora_cannot_credit_is_refused(
    tenant: z.Tenant, external_id: str | None, currency: str, error: str
) -> None:
    asked = z.request(tenant.account(), currency=currency)
    if external_id != "known":
        asked = replace(asked, external_account_id=external_id)

    with pytest.raises(BillingRejectedError, match=error):
        z.connect(tenant.url, tenant.clock).adapter.post_credit(asked)
    assert tenant.fake.memos_with_key(asked.idempotency_key) == []


def test_an_invoice_of_another_account_or_with_too_little_left_is_refused(
    tenant: z.Tenant,
) -> None:
    mine, theirs = tenant.account(), tenant.account()
    adapter = z.connect(tenant.url, tenant.clock).adapter

    with pytest.raises(BillingRejectedError, match="belongs to another account"):
        adapter.post_credit(z.request(mine, invoice=tenant.invoice(theirs, "50.00")))
    small = tenant.invoice(mine, "5.00", "3.00")
    with pytest.raises(BillingRejectedError, match=r"8\.00 GBP left.*12\.50"):
        adapter.post_credit(z.request(mine, invoice=small))


def test_a_business_error_in_a_200_is_a_refusal_with_zuoras_words(
    tenant: z.Tenant,
) -> None:
    account = tenant.account()
    adapter = z.connect(
        tenant.url, tenant.clock, reason_codes={"goodwill": "Not a code"}
    ).adapter

    with pytest.raises(BillingRejectedError, match=r"Invalid reason code: Not a code"):
        adapter.post_credit(z.request(account))


def test_a_zuora_error_of_a_temporary_category_is_transient(
    tenant: z.Tenant,
) -> None:
    account = tenant.account()
    body = '{"success": false, "reasons": [{"code": 53000050, "message": "lock"}]}'
    tenant.fake.faults.add(Fault("GET", "/v1/accounts/", status=200, body=body))

    with pytest.raises(BillingTransientError, match="lock"):
        z.connect(tenant.url, tenant.clock).adapter.post_credit(z.request(account))


def test_a_charge_memo_needs_the_charge_id(tenant: z.Tenant) -> None:
    account = tenant.account()
    adapter = z.connect(tenant.url, tenant.clock, charge_id="").adapter

    with pytest.raises(BillingRejectedError, match="CREDITDESK_ZUORA_CHARGE_ID"):
        adapter.post_credit(z.request(account))
