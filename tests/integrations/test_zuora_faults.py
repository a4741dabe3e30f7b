"""Every kind of failure on the way to Zuora still raises exactly one memo.

A transient failure is retried in the call (when it is safe) or handed back
as ``BillingTransientError``, which the outbox retries later; ``_as_outbox``
plays that part without waiting.
"""

from collections.abc import Iterator
from dataclasses import replace

import pytest

from creditdesk.billing.adapters import (
    BillingTransientError,
    PostingRequest,
    PostingResult,
)
from creditdesk.integrations.fakes.server import Fault, free_port
from creditdesk.integrations.zuora.adapter import ZuoraAdapter
from tests.integrations import zuora_support as z


@pytest.fixture(scope="module")
def tenant() -> Iterator[z.Tenant]:
    with z.running_tenant() as running:
        yield running


def _as_outbox(
    adapter: ZuoraAdapter, asked: PostingRequest, attempts: int = 3
) -> tuple[PostingResult, list[str]]:
    """Post until it goes through, looking the key up first on a retry."""
    failures: list[str] = []
    for _ in range(attempts):
        try:
            if failures:
                found = adapter.find_by_idempotency_key(asked.idempotency_key)
                if found is not None:
                    return found, failures
            return adapter.post_credit(asked), failures
        except BillingTransientError as exc:
            failures.append(str(exc))
    raise AssertionError(f"still failing: {failures}")


CREATE_FAULTS = {
    "503 then success": Fault("POST", "/v1/", status=503),
    "429 with Retry-After": Fault("POST", "/v1/", status=429, retry_after="1"),
    "slower than the timeout": Fault("POST", "/v1/", kind="delay", delay_seconds=1.5),
    "malformed answer": Fault("POST", "/v1/", kind="malformed"),
    "memo's answer cut off": Fault("POST", "/v1/", kind="reset"),
    "malformed apply": Fault("PUT", "/v1/creditmemos/", kind="malformed"),
    "500 on every try of the post": Fault(
        "PUT", "/v1/creditmemos/", status=500, times=3
    ),
    "401 on the memo": Fault("POST", "/v1/", status=401),
}


@pytest.mark.parametrize("fault", CREATE_FAULTS.values(), ids=CREATE_FAULTS.keys())
@pytest.mark.parametrize("with_invoice", [True, False], ids=["invoice", "charge"])
def test_a_fault_is_retried_and_one_memo_is_raised(
    tenant: z.Tenant, fault: Fault, with_invoice: bool
) -> None:
    account = tenant.account()
    invoice = tenant.invoice(account, "20.00") if with_invoice else None
    asked = z.request(account, invoice=invoice)
    connected = z.connect(tenant.url, tenant.clock)
    connected.adapter.find_by_idempotency_key("warm-up")  # a token first
    tenant.fake.faults.add(replace(fault))  # each case gets its own count

    result, _ = _as_outbox(connected.adapter, asked)

    [memo] = tenant.fake.memos_with_key(asked.idempotency_key)
    assert result.external_ref == memo.number
    assert result.applied is with_invoice
    assert memo.status == "Posted"
    assert memo.applied == (memo.amount if with_invoice else 0)


def test_retry_after_is_honoured_without_sleeping(tenant: z.Tenant) -> None:
    account = tenant.account()
    connected = z.connect(tenant.url, tenant.clock)
    tenant.fake.faults.add(Fault("POST", "/v1/", status=429, retry_after="2"))

    _as_outbox(connected.adapter, z.request(account))

    assert connected.waits == [2.0]


def test_an_expired_token_is_refused_once_then_renewed(tenant: z.Tenant) -> None:
    account = tenant.account()
    adapter = z.connect(tenant.url, tenant.clock).adapter
    adapter.post_credit(z.request(account))
    tenant.fake.expire_tokens()
    before = tenant.fake.token_requests

    asked = z.request(account)
    adapter.post_credit(asked)

    assert tenant.fake.token_requests == before + 1
    assert len(tenant.fake.memos_with_key(asked.idempotency_key)) == 1


def test_a_closed_port_is_transient_and_nothing_is_raised(tenant: z.Tenant) -> None:
    account = tenant.account()
    asked = z.request(account)
    down = z.connect(f"http://127.0.0.1:{free_port()}", tenant.clock).adapter

    with pytest.raises(BillingTransientError, match="ConnectError"):
        down.post_credit(asked)

    up = z.connect(tenant.url, tenant.clock).adapter
    result, _ = _as_outbox(up, asked)
    [memo] = tenant.fake.memos_with_key(asked.idempotency_key)
    assert result.external_ref == memo.number
