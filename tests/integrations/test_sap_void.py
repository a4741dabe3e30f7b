"""Reversing a voided credit at the fake S/4HANA: its memo request's items
are rejected with the configured reason, over real HTTP."""

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from creditdesk.billing.adapters import (
    BillingRejectedError,
    BillingTransientError,
    VoidRequest,
    VoidResult,
)
from creditdesk.integrations.fakes.server import Fault
from creditdesk.integrations.sap.fake_items import ITEM_SET
from tests.integrations.test_sap import Sap, _posting, server

__all__ = ["server"]

REASON = "10"


@pytest.fixture
def sap(server: Sap) -> Iterator[Sap]:
    server.waits.clear()
    yield server
    server.fake.faults.clear()


def _posted(sap: Sap) -> str:
    posted = sap.adapter().post_credit(_posting(sap))
    return posted.external_ref


def _void(number: str) -> VoidRequest:
    return VoidRequest(
        idempotency_key=f"outbox-{uuid.uuid4().int % 10**12}",
        credit_id=1,
        credit_number="BC-1",
        account_number="ACC-1",
        external_account_id="1000001",
        external_ref=number,
        amount_minor=1_250,
        currency="GBP",
        memo_text="Credit BC-1 voided",
    )


def _items(sap: Sap, number: str) -> list[dict[str, Any]]:
    return sap.fake.memo_requests[number]["to_Item"]


def _rejection_status(sap: Sap, number: str) -> str:
    response = httpx.get(
        f"{sap.url}/sap/opu/odata/sap/API_CREDIT_MEMO_REQUEST_SRV/"
        f"A_CreditMemoRequest('{number}')",
        auth=(sap.fake.username, sap.fake.password),
    )
    return response.json()["d"]["OverallSDDocumentRejectionSts"]


def test_every_item_is_rejected_with_the_configured_reason(sap: Sap) -> None:
    number = _posted(sap)
    assert _rejection_status(sap, number) == "A"

    result = sap.adapter(rejection_reason=REASON).void_credit(_void(number))

    assert result == VoidResult(external_ref=number, raw_status="rejected")
    assert [i["SalesDocumentRjcnReason"] for i in _items(sap, number)] == [REASON]
    assert _rejection_status(sap, number) == "C"


def test_voiding_again_sends_no_change(sap: Sap) -> None:
    number = _posted(sap)
    adapter = sap.adapter(rejection_reason=REASON)
    adapter.void_credit(_void(number))
    etag = sap.fake.items.etag(number, "10")

    again = adapter.void_credit(_void(number))

    assert again.raw_status == "rejected"
    assert sap.fake.items.etag(number, "10") == etag


def test_without_a_rejection_reason_voiding_is_refused_before_calling_sap(
    sap: Sap,
) -> None:
    number = _posted(sap)

    with pytest.raises(BillingRejectedError, match="CREDITDESK_SAP_REJECTION_REASON"):
        sap.adapter().void_credit(_void(number))
    assert _rejection_status(sap, number) == "A"


def test_a_billed_memo_request_cannot_be_rejected(sap: Sap) -> None:
    number = _posted(sap)
    sap.fake.items.bill(number)

    with pytest.raises(BillingRejectedError, match=r"already been billed.*V1/473"):
        sap.adapter(rejection_reason=REASON).void_credit(_void(number))
    assert _rejection_status(sap, number) == "A"


def test_a_reason_the_tenant_does_not_define_is_refused_with_saps_message(
    sap: Sap,
) -> None:
    number = _posted(sap)

    with pytest.raises(BillingRejectedError, match="Reason for rejection 99 is not"):
        sap.adapter(rejection_reason="99").void_credit(_void(number))


def test_an_unknown_memo_request_is_refused(sap: Sap) -> None:
    with pytest.raises(BillingRejectedError, match="404: Resource not found"):
        sap.adapter(rejection_reason=REASON).void_credit(_void("69999999"))


def test_the_fake_wants_the_etag_and_the_csrf_token(sap: Sap) -> None:
    number = _posted(sap)
    auth = (sap.fake.username, sap.fake.password)
    item = (
        f"{sap.url}{ITEM_SET}(CreditMemoRequest='{number}',CreditMemoRequestItem='10')"
    )
    with httpx.Client(auth=auth) as client:
        fetched = client.get(item, headers={"X-CSRF-Token": "Fetch"})
        token, etag = fetched.headers["x-csrf-token"], fetched.headers["etag"]
        body = {"SalesDocumentRjcnReason": REASON}

        no_token = client.patch(item, json=body, headers={"If-Match": etag})
        no_etag = client.patch(item, json=body, headers={"X-CSRF-Token": token})
        stale = client.patch(
            item, json=body, headers={"X-CSRF-Token": token, "If-Match": 'W/"x"'}
        )
        read_only = client.patch(
            item,
            json={"NetAmount": "0"},
            headers={"X-CSRF-Token": token, "If-Match": etag},
        )

    assert (no_token.status_code, no_token.headers["x-csrf-token"]) == (
        403,
        "Required",
    )
    assert no_etag.status_code == 428
    assert stale.status_code == 412
    assert read_only.status_code == 400
    assert "cannot be updated" in read_only.json()["error"]["message"]["value"]
    assert _items(sap, number)[0].get("SalesDocumentRjcnReason", "") == ""


def test_a_stale_csrf_token_is_fetched_again(sap: Sap) -> None:
    number = _posted(sap)
    adapter = sap.adapter(rejection_reason=REASON)
    adapter.find_by_idempotency_key("outbox-warm")  # holds no token yet
    sap.fake.refuse_csrf(1)

    adapter.void_credit(_void(number))

    assert _rejection_status(sap, number) == "C"


@pytest.mark.parametrize(
    "fault",
    [
        Fault("PATCH", ITEM_SET, status=503),
        Fault("PATCH", ITEM_SET, status=429, retry_after="1"),
        # SAP makes the change; the answer comes after the client gave up,
        # so the resend meets a changed ETag.
        Fault("PATCH", ITEM_SET, kind="delay", delay_seconds=0.6),
        Fault("GET", "/sap/opu/odata/sap/API_CREDIT_MEMO_REQUEST_SRV/A_", status=502),
    ],
    ids=["5xx", "429", "timeout", "read 5xx"],
)
def test_transient_faults_are_retried_and_reject_once(sap: Sap, fault: Fault) -> None:
    number = _posted(sap)
    sap.fake.faults.add(fault)

    result = sap.adapter(rejection_reason=REASON).void_credit(_void(number))

    assert result.raw_status == "rejected"
    assert _rejection_status(sap, number) == "C"
    assert sap.waits, "the fault was retried after a wait"


def test_sap_staying_down_is_transient(sap: Sap) -> None:
    number = _posted(sap)
    sap.fake.faults.add(Fault("PATCH", ITEM_SET, status=503, times=10))

    with pytest.raises(BillingTransientError, match="503"):
        sap.adapter(rejection_reason=REASON).void_credit(_void(number))
    assert _rejection_status(sap, number) == "A"
