"""Reversing a voided credit's memo at the fake Zuora tenant, over real HTTP."""

import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest

from creditdesk.billing.adapters import (
    BillingRejectedError,
    BillingTransientError,
    VoidRequest,
    VoidResult,
)
from creditdesk.integrations.fakes.server import Fault
from creditdesk.integrations.zuora.adapter import build_client, call
from creditdesk.integrations.zuora.fake_tenant import Account, Invoice, Memo
from tests.integrations import zuora_support as z


@pytest.fixture(scope="module")
def tenant() -> Iterator[z.Tenant]:
    with z.running_tenant() as running:
        yield running


@pytest.fixture(autouse=True)
def _no_faults(tenant: z.Tenant) -> Iterator[None]:
    yield
    tenant.fake.faults.clear()


def _posted(tenant: z.Tenant, *, invoice: bool) -> tuple[Memo, Account, Invoice | None]:
    account = tenant.account()
    billed = tenant.invoice(account, "30.00") if invoice else None
    asked = z.request(account, amount_minor=1_250, invoice=billed)
    z.connect(tenant.url, tenant.clock).adapter.post_credit(asked)
    [memo] = tenant.fake.memos_with_key(asked.idempotency_key)
    return memo, account, billed


def _void(memo: Memo, account: Account) -> VoidRequest:
    return VoidRequest(
        idempotency_key=f"outbox-{uuid.uuid4().hex[:12]}",
        credit_id=1,
        credit_number="BC-000001",
        account_number="ACC-1",
        external_account_id=account.number,
        external_ref=memo.number,
        amount_minor=1_250,
        currency="GBP",
        memo_text="Credit BC-000001 voided",
    )


def _put(tenant: z.Tenant, memo: Memo, action: str, body: dict | None = None):
    settings = z.settings_for(tenant.url)
    client = build_client(settings, sleep=lambda _s: None)
    return call(
        client, settings, "PUT", f"/v1/creditmemos/{memo.id}/{action}", json=body
    )


def test_an_applied_memo_is_unapplied_then_reversed(tenant: z.Tenant) -> None:
    memo, account, invoice = _posted(tenant, invoice=True)
    assert invoice is not None and invoice.balance == Decimal("17.50")
    debit_memos = tenant.fake.data.debit_memos_created

    result = z.connect(tenant.url, tenant.clock).adapter.void_credit(
        _void(memo, account)
    )

    assert result == VoidResult(external_ref=memo.number, raw_status="Reversed")
    assert invoice.balance == Decimal("30.00")
    assert memo.status == "Posted"
    assert memo.reversed is True
    # Reversing applies the memo in full to the debit memo it creates.
    assert memo.applied == memo.amount
    assert memo.applied_to[invoice.id] == 0
    assert tenant.fake.data.debit_memos_created == debit_memos + 1


def test_a_posted_memo_not_applied_is_reversed_directly(tenant: z.Tenant) -> None:
    memo, account, _ = _posted(tenant, invoice=False)

    result = z.connect(tenant.url, tenant.clock).adapter.void_credit(
        _void(memo, account)
    )

    assert result.raw_status == "Reversed"
    assert memo.reversed is True
    assert memo.debit_memo is not None


def test_voiding_again_changes_nothing(tenant: z.Tenant) -> None:
    memo, account, invoice = _posted(tenant, invoice=True)
    adapter = z.connect(tenant.url, tenant.clock).adapter
    first = adapter.void_credit(_void(memo, account))
    debit_memos = tenant.fake.data.debit_memos_created

    again = adapter.void_credit(_void(memo, account))

    assert again == first
    assert tenant.fake.data.debit_memos_created == debit_memos
    assert invoice is not None and invoice.balance == Decimal("30.00")


def test_a_draft_memo_is_cancelled_not_reversed(tenant: z.Tenant) -> None:
    account = tenant.account()
    with tenant.fake._lock:
        view = tenant.fake.data.memo_from_charge(
            {},
            {
                "accountId": account.id,
                "charges": [{"chargeId": z.CHARGE_ID, "amount": Decimal("12.50")}],
            },
            tenant.clock(),
            "224.0",
        )
    memo = tenant.fake.data.memos[view["id"]]

    result = z.connect(tenant.url, tenant.clock).adapter.void_credit(
        _void(memo, account)
    )

    assert result == VoidResult(external_ref=memo.number, raw_status="Canceled")
    assert memo.status == "Canceled"
    assert memo.reversed is False


def test_the_fake_keeps_zuoras_rules_for_taking_a_memo_back(tenant: z.Tenant) -> None:
    applied, _, _ = _posted(tenant, invoice=True)
    posted, _, _ = _posted(tenant, invoice=False)

    with pytest.raises(BillingRejectedError, match="applied amount is not 0"):
        _put(tenant, applied, "reverse")
    with pytest.raises(BillingRejectedError, match="Draft status can be canceled"):
        _put(tenant, posted, "cancel")
    with pytest.raises(BillingRejectedError, match=r"exceeds the amount applied"):
        _put(
            tenant,
            posted,
            "unapply",
            {"invoices": [{"invoiceId": applied.invoice.id, "amount": Decimal(1)}]},
        )
    assert (applied.reversed, posted.reversed) == (False, False)


def test_a_memo_zuora_applied_on_its_own_is_refused_with_the_reason(
    tenant: z.Tenant,
) -> None:
    memo, account, _ = _posted(tenant, invoice=False)
    elsewhere = tenant.invoice(account, "20.00")
    with tenant.fake._lock:
        tenant.fake.data.apply_memo(
            memo.id,
            {"invoices": [{"invoiceId": elsewhere.id, "amount": Decimal("12.50")}]},
            tenant.clock(),
        )

    with pytest.raises(BillingRejectedError, match="unapply it in Zuora first"):
        z.connect(tenant.url, tenant.clock).adapter.void_credit(_void(memo, account))
    assert memo.reversed is False


@pytest.mark.parametrize(
    "fault",
    [
        Fault("PUT", "/v1/creditmemos/", status=503),
        Fault("PUT", "/v1/creditmemos/", status=429, retry_after="1"),
        # Zuora does the work; the answer comes after the client gave up.
        Fault("PUT", "/v1/creditmemos/", kind="delay", delay_seconds=0.8),
        Fault("GET", "/v1/creditmemos/", status=502),
    ],
    ids=["5xx", "429", "timeout", "read 5xx"],
)
def test_transient_faults_are_retried_and_reverse_once(
    tenant: z.Tenant, fault: Fault
) -> None:
    memo, account, invoice = _posted(tenant, invoice=True)
    debit_memos = tenant.fake.data.debit_memos_created
    tenant.fake.faults.add(fault)
    connected = z.connect(tenant.url, tenant.clock)

    result = connected.adapter.void_credit(_void(memo, account))

    assert result.raw_status == "Reversed"
    assert tenant.fake.data.debit_memos_created == debit_memos + 1
    assert invoice is not None and invoice.balance == Decimal("30.00")
    assert connected.waits, "the fault was retried after a wait"


def test_zuora_staying_down_is_transient(tenant: z.Tenant) -> None:
    memo, account, _ = _posted(tenant, invoice=False)
    tenant.fake.faults.add(Fault("PUT", "/v1/creditmemos/", status=503, times=10))

    with pytest.raises(BillingTransientError, match="503"):
        z.connect(tenant.url, tenant.clock).adapter.void_credit(_void(memo, account))
    assert memo.reversed is False


def test_an_unknown_memo_is_refused_with_zuoras_message(tenant: z.Tenant) -> None:
    account = tenant.account()
    missing = Memo(
        id="nope",
        number="CM99999999",
        account=account,
        amount=Decimal(1),
        reason_code="Goodwill",
        comment="",
        effective_date="2024-01-01",
        custom={},
    )

    with pytest.raises(BillingRejectedError, match="Cannot find entity"):
        z.connect(tenant.url, tenant.clock).adapter.void_credit(_void(missing, account))
