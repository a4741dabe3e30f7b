"""Reversing a voided credit at the fake Salesforce org: the credit note is
unallocated and cancelled in one composite request, over real HTTP."""

import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from creditdesk.billing.adapters import (
    BillingRejectedError,
    BillingTransientError,
    VoidRequest,
    VoidResult,
)
from creditdesk.clock import FrozenClock
from creditdesk.integrations.fakes.server import Fault
from creditdesk.integrations.salesforce.fake_org import ALLOCATION, NOTE, Org
from tests.integrations.test_salesforce import (
    COMPOSITE,
    QUERY,
    START,
    FakeSalesforce,
    _adapter,
    _notes,
    _request,
    salesforce,
)

__all__ = ["salesforce"]


@pytest.fixture(autouse=True)
def _fresh(salesforce: FakeSalesforce) -> Iterator[None]:
    salesforce.org.faults.clear()
    yield
    salesforce.org.faults.clear()
    salesforce.org.lose_composite_answers = 0


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


def _posted(
    salesforce: FakeSalesforce, clock: FrozenClock, *, invoice: bool = True
) -> str:
    request = _request(salesforce.org, invoice=invoice)
    _adapter(salesforce, clock, []).post_credit(request)
    [note] = _notes(salesforce.org, request.idempotency_key)
    return note["Id"]


def _void(note_id: str) -> VoidRequest:
    return VoidRequest(
        idempotency_key=f"outbox-{uuid.uuid4().int % 10**12}",
        credit_id=1,
        credit_number="CR-1",
        account_number="ACC-1",
        external_account_id=None,
        external_ref=note_id,
        amount_minor=1_250,
        currency="GBP",
        memo_text="Credit CR-1 voided",
    )


def _note(org: Org, note_id: str) -> dict[str, Any]:
    return next(row for row in org.rows(NOTE) if row["Id"] == note_id)


def _allocations(org: Org, note_id: str) -> list[dict[str, Any]]:
    lines = {
        row["Id"]
        for row in org.rows("blng__CreditNoteLine__c")
        if row["blng__CreditNote__c"] == note_id
    }
    return [r for r in org.rows(ALLOCATION) if r["blng__CreditNoteLine__c"] in lines]


def test_an_allocated_note_is_unallocated_and_cancelled_in_one_composite(
    salesforce: FakeSalesforce, clock: FrozenClock
) -> None:
    org = salesforce.org
    note_id = _posted(salesforce, clock)

    result = _adapter(salesforce, clock, []).void_credit(_void(note_id))

    assert result == VoidResult(external_ref=note_id, raw_status="Cancelled")
    assert _note(org, note_id)["blng__Status__c"] == "Cancelled"
    original, undo = sorted(_allocations(org, note_id), key=lambda r: r["Id"])
    assert original["blng__Unallocated__c"] is True
    assert undo["blng__Type__c"] == "Unallocation"
    assert undo["blng__Amount__c"] == original["blng__Amount__c"] == Decimal("12.50")
    assert undo["blng__InvoiceLine__c"] == original["blng__InvoiceLine__c"]
    sent = json.loads(org.composite_bodies[-1])
    assert sent["allOrNone"] is True
    assert [s["method"] for s in sent["compositeRequest"]] == ["POST", "PATCH", "PATCH"]


def test_a_note_without_allocations_is_cancelled(
    salesforce: FakeSalesforce, clock: FrozenClock
) -> None:
    note_id = _posted(salesforce, clock, invoice=False)

    _adapter(salesforce, clock, []).void_credit(_void(note_id))

    assert _note(salesforce.org, note_id)["blng__Status__c"] == "Cancelled"
    assert _allocations(salesforce.org, note_id) == []


def test_voiding_again_sends_nothing(
    salesforce: FakeSalesforce, clock: FrozenClock
) -> None:
    org = salesforce.org
    note_id = _posted(salesforce, clock)
    adapter = _adapter(salesforce, clock, [])
    adapter.void_credit(_void(note_id))
    composites = len(org.composite_bodies)

    again = adapter.void_credit(_void(note_id))

    assert again.raw_status == "Cancelled"
    assert len(org.composite_bodies) == composites
    assert len(_allocations(org, note_id)) == 2


def test_a_lost_composite_answer_is_found_cancelled_by_the_next_attempt(
    salesforce: FakeSalesforce, clock: FrozenClock
) -> None:
    org = salesforce.org
    note_id = _posted(salesforce, clock)
    org.lose_composite_answers = 1
    adapter = _adapter(salesforce, clock, [])

    with pytest.raises(BillingTransientError):
        adapter.void_credit(_void(note_id))
    assert _note(org, note_id)["blng__Status__c"] == "Cancelled"

    assert adapter.void_credit(_void(note_id)).raw_status == "Cancelled"
    assert len(_allocations(org, note_id)) == 2


def test_the_org_refuses_cancelling_an_allocated_note_and_over_unallocating(
    salesforce: FakeSalesforce, clock: FrozenClock
) -> None:
    org = salesforce.org
    note_id = _posted(salesforce, clock)
    [allocation] = _allocations(org, note_id)
    client = _adapter(salesforce, clock, [])._client

    parts = client.composite(
        [
            {
                "method": "PATCH",
                "url": client.sobject_path(NOTE, note_id),
                "referenceId": "note",
                "body": {"blng__Status__c": "Cancelled"},
            }
        ]
    )
    too_much = client.composite(
        [
            {
                "method": "POST",
                "url": client.sobject_path(ALLOCATION),
                "referenceId": "undo",
                "body": {
                    "blng__CreditNoteLine__c": allocation["blng__CreditNoteLine__c"],
                    "blng__InvoiceLine__c": allocation["blng__InvoiceLine__c"],
                    "blng__Amount__c": Decimal("99.00"),
                    "blng__Type__c": "Unallocation",
                },
            }
        ]
    )

    assert "Unallocate it first" in parts["note"]["body"][0]["message"]
    assert "can't exceed the allocated" in too_much["undo"]["body"][0]["message"]
    assert _note(org, note_id)["blng__Status__c"] == "Posted"
    assert len(_allocations(org, note_id)) == 1


def test_a_validation_refusal_carries_salesforces_message(
    salesforce: FakeSalesforce, clock: FrozenClock
) -> None:
    note_id = _posted(salesforce, clock)
    salesforce.org.faults.add(
        Fault(
            "POST",
            COMPOSITE,
            status=200,
            body=json.dumps(
                {
                    "compositeResponse": [
                        {
                            "body": [
                                {
                                    "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                                    "message": "Closed finance period",
                                }
                            ],
                            "httpHeaders": {},
                            "httpStatusCode": 400,
                            "referenceId": "note",
                        }
                    ]
                }
            ),
        )
    )

    with pytest.raises(BillingRejectedError, match="Closed finance period"):
        _adapter(salesforce, clock, []).void_credit(_void(note_id))
    assert _note(salesforce.org, note_id)["blng__Status__c"] == "Posted"


def test_a_read_5xx_is_retried_in_process(
    salesforce: FakeSalesforce, clock: FrozenClock
) -> None:
    note_id = _posted(salesforce, clock)
    salesforce.org.faults.add(Fault("GET", QUERY, status=503))
    waits: list[float] = []

    result = _adapter(salesforce, clock, waits).void_credit(_void(note_id))

    assert result.raw_status == "Cancelled"
    assert waits


def test_the_request_limit_is_left_to_the_outbox_and_changes_nothing(
    salesforce: FakeSalesforce, clock: FrozenClock
) -> None:
    note_id = _posted(salesforce, clock)
    limit = '[{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "limit"}]'
    salesforce.org.faults.add(Fault("GET", QUERY, status=403, body=limit))
    adapter = _adapter(salesforce, clock, [])

    with pytest.raises(BillingTransientError, match="REQUEST_LIMIT_EXCEEDED"):
        adapter.void_credit(_void(note_id))
    assert _note(salesforce.org, note_id)["blng__Status__c"] == "Posted"

    assert adapter.void_credit(_void(note_id)).raw_status == "Cancelled"


def test_a_composite_5xx_is_transient_and_changes_nothing(
    salesforce: FakeSalesforce, clock: FrozenClock
) -> None:
    note_id = _posted(salesforce, clock)
    salesforce.org.faults.add(Fault("POST", COMPOSITE, status=503))

    with pytest.raises(BillingTransientError, match="503"):
        _adapter(salesforce, clock, []).void_credit(_void(note_id))
    assert _note(salesforce.org, note_id)["blng__Status__c"] == "Posted"


def test_an_unknown_note_is_refused(
    salesforce: FakeSalesforce, clock: FrozenClock
) -> None:
    with pytest.raises(BillingRejectedError, match="no credit note"):
        _adapter(salesforce, clock, []).void_credit(_void("a0X000000000000AAA"))
