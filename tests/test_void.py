"""Voiding a credit: finance reverses a posted one at the ledger exactly once,
or withdraws one whose posting failed."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from creditdesk.accounts.models import BillingSystem
from creditdesk.approvals.models import WorkItemStatus
from creditdesk.billing.adapters import BillingAdapter, VoidRequest, VoidResult
from creditdesk.billing.ledger import LedgerAdapter
from creditdesk.billing.models import MemoStatus
from creditdesk.billing.registry import adapter_for
from creditdesk.billing.reversals import VoidCredit
from creditdesk.credits.models import CreditStatus
from creditdesk.credits.voids import VOID_TOPIC
from creditdesk.db import transaction
from creditdesk.outbox.models import OutboxStatus
from creditdesk.outbox.registry import CREDIT_POST
from creditdesk.outbox.worker import Worker
from creditdesk.users.models import Role, User
from tests.billing import support
from tests.billing.support import Approved
from tests.factories import make_team, make_token, make_user
from tests.outbox.desk import Desk, open_desk

WHY = {"justification": "The customer was credited twice for the same outage."}


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    with open_desk(tmp_path_factory.mktemp("void")) as desk:
        yield desk


def _void(desk: Desk, credit_id: int, who: str = "finance", body: Any = WHY):
    return desk.post(f"/credits/{credit_id}/void", who, body)


def test_voiding_an_applied_credit_gives_the_balance_back_once(desk: Desk) -> None:
    approved = desk.approved(requester=desk.org.agent)
    before = support.balance(desk.factory, approved)
    desk.drain()
    assert support.balance(desk.factory, approved) == before - approved.amount_minor

    answer = _void(desk, approved.credit_id)

    assert answer.status_code == 200, answer.text
    # Voided only once the billing system has confirmed the reversal.
    assert answer.json()["status"] == "voiding"
    [asked] = desk.audit("credit", approved.credit_id, "credit.void_requested")
    assert (asked.actor_name, asked.reason) == (
        desk.org.finance.username,
        WHY["justification"],
    )
    assert desk.audit("credit", approved.credit_id, "credit.voided") == []
    [message] = desk.messages(approved.credit_id, VOID_TOPIC)
    assert message.status is OutboxStatus.PENDING

    assert desk.drain() == 1
    assert desk.drain() == 0

    assert desk.credit(approved).status is CreditStatus.VOIDED
    [voided] = desk.audit("credit", approved.credit_id, "credit.voided")
    assert voided.reason == "reversed at ledger: reversed"

    assert support.balance(desk.factory, approved) == before
    [reversal] = desk.reversals(approved)
    assert reversal.amount_minor == approved.amount_minor
    [memo] = support.memos(desk.factory, approved)
    assert (memo.status, memo.reversal_key) == (
        MemoStatus.REVERSED,
        f"outbox-{message.id}",
    )
    assert desk.message(message.id).status is OutboxStatus.DELIVERED
    [reversed_] = desk.audit("credit", approved.credit_id, "credit.reversed")
    assert memo.reference in reversed_.changes


class SimulatedCrash(BaseException):
    """The worker dies after the ledger reversed the memo, before settling."""


class CrashAfterVoiding:
    def __init__(self, real: BillingAdapter) -> None:
        self.real = real

    def void_credit(self, request: VoidRequest) -> VoidResult:
        self.real.void_credit(request)
        raise SimulatedCrash


def test_a_void_delivered_twice_reverses_once(desk: Desk) -> None:
    approved = desk.applied()
    assert _void(desk, approved.credit_id).status_code == 200

    def crashing(*args: Any, **kwargs: Any) -> BillingAdapter:
        return CrashAfterVoiding(adapter_for(*args, **kwargs))

    doomed = Worker(
        desk.factory,
        clock=desk.clock,
        settings=desk.settings,
        name="doomed",
        handlers={VOID_TOPIC: VoidCredit(crashing)},
    )
    with pytest.raises(SimulatedCrash):
        doomed.run_once()
    assert len(desk.reversals(approved)) == 1
    desk.clock.advance(timedelta(seconds=desk.settings.worker_lease_seconds))

    assert desk.drain() == 1

    [message] = desk.messages(approved.credit_id, VOID_TOPIC)
    assert (message.status, message.attempts) == (OutboxStatus.DELIVERED, 2)
    assert len(desk.reversals(approved)) == 1
    assert support.balance(desk.factory, approved) == 0
    assert desk.credit(approved).status is CreditStatus.VOIDED
    assert len(desk.audit("credit", approved.credit_id, "credit.voided")) == 1


def test_the_ledger_reverses_a_memo_once_whatever_the_key(desk: Desk) -> None:
    approved = desk.applied()
    ledger = LedgerAdapter(desk.factory, clock=desk.clock)
    credit = desk.credit(approved)
    assert credit.external_ref is not None

    def request(key: str) -> VoidRequest:
        return VoidRequest(
            idempotency_key=key,
            credit_id=credit.id,
            credit_number=credit.number,
            account_number="-",
            external_account_id=None,
            external_ref=credit.external_ref or "",
            amount_minor=credit.amount_minor,
            currency=credit.currency,
            memo_text="test",
        )

    first = ledger.void_credit(request("void-a"))
    again = ledger.void_credit(request("void-a"))
    other = ledger.void_credit(request("void-b"))

    assert first == again == other
    assert first.raw_status == "reversed"
    assert len(desk.reversals(approved)) == 1


def test_voiding_a_failed_posting_cancels_it_and_closes_the_handoffs(
    desk: Desk,
) -> None:
    failed = desk.failed()

    answer = _void(desk, failed.credit_id, "finance_2")

    assert answer.status_code == 200, answer.text
    assert desk.credit(failed).status is CreditStatus.VOIDED
    assert desk.message(failed.message_id).status is OutboxStatus.CANCELLED
    assert desk.messages(failed.credit_id, VOID_TOPIC) == []
    items = desk.handoffs(failed.credit_id)
    assert [i.decided_by_id for i in items if i.status is WorkItemStatus.DONE] == [
        desk.org.finance_2.id
    ]
    assert not [i for i in items if i.is_open]
    assert desk.drain() == 0


@pytest.mark.parametrize("who", ["agent", "lead", "manager", "admin", "auditor"])
def test_only_finance_voids(desk: Desk, who: str) -> None:
    approved = desk.applied(requester=desk.org.agent)

    answer = _void(desk, approved.credit_id, who)

    assert answer.status_code == 403, answer.text
    assert desk.credit(approved).status is CreditStatus.APPLIED


def test_a_credit_the_caller_cannot_see_is_404(desk: Desk) -> None:
    approved = desk.applied(requester=desk.org.agent)
    with transaction(desk.factory) as session:
        stranger = make_user(session, role=Role.AGENT, team=make_team(session))
        desk.org.tokens["stranger"] = make_token(session, user=stranger)

    hidden = _void(desk, approved.credit_id, "stranger")
    missing = _void(desk, 987654321)

    assert (hidden.status_code, missing.status_code) == (404, 404)
    assert hidden.json()["detail"] == f"credit {approved.credit_id} does not exist"


def test_nobody_voids_a_credit_they_requested(desk: Desk) -> None:
    with transaction(desk.factory) as session:
        moved = make_user(session, role=Role.AGENT)
    approved = desk.applied(requester=moved)
    with transaction(desk.factory) as session:
        # They raised it as an agent and have since moved to finance.
        session.get_one(User, moved.id).role = Role.FINANCE
        desk.org.tokens["moved"] = make_token(session, user=moved)

    answer = _void(desk, approved.credit_id, "moved")

    assert (answer.status_code, answer.json()["rule"]) == (403, "own_credit")
    assert desk.credit(approved).status is CreditStatus.APPLIED


@pytest.mark.parametrize(
    "body", [None, {}, {"justification": "too short"}, {"justification": 12}]
)
def test_a_void_needs_a_justification(desk: Desk, body: Any) -> None:
    approved = desk.applied()

    answer = _void(desk, approved.credit_id, body=body)

    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == ("body" if body is None else "justification")


def test_a_credit_not_yet_posted_or_already_voided_is_409(desk: Desk) -> None:
    voided = _voided(desk)
    waiting = desk.approved()

    early = _void(desk, waiting.credit_id)
    twice = _void(desk, voided.credit_id)

    assert (early.status_code, early.json()["credit_status"]) == (409, "approved")
    assert (twice.status_code, twice.json()["credit_status"]) == (409, "voiding")
    assert desk.messages(waiting.credit_id, CREDIT_POST)[0].status is (
        OutboxStatus.PENDING
    )
    desk.drain()
    after = _void(desk, voided.credit_id)
    assert (after.status_code, after.json()["credit_status"]) == (409, "voided")
    assert len(desk.messages(voided.credit_id, VOID_TOPIC)) == 1


def _voided(desk: Desk) -> Approved:
    approved = desk.applied()
    assert _void(desk, approved.credit_id).status_code == 200
    return approved


def test_a_void_at_a_system_without_an_adapter_is_dead_lettered(desk: Desk) -> None:
    approved = desk.applied()
    assert _void(desk, approved.credit_id).status_code == 200
    desk.set_system(approved, BillingSystem.ZUORA)

    desk.drain()

    [message] = desk.messages(approved.credit_id, VOID_TOPIC)
    assert message.status is OutboxStatus.DEAD
    # Not reversed, so not voided: billing operations retry or cancel it.
    assert desk.credit(approved).status is CreditStatus.VOIDING
    listed = desk.get("/ops/outbox", "finance", status="dead", topic=VOID_TOPIC)
    assert message.id in [row["id"] for row in listed.json()["items"]]


def test_cancelling_a_dead_reversal_voids_the_credit_unreversed(desk: Desk) -> None:
    approved = desk.applied()
    assert _void(desk, approved.credit_id).status_code == 200
    desk.set_system(approved, BillingSystem.ZUORA)
    desk.drain()
    [message] = desk.messages(approved.credit_id, VOID_TOPIC)

    cancelled = desk.post(
        f"/ops/outbox/{message.id}/cancel",
        "finance",
        {"comment": "Reversed by hand in the billing system."},
    )

    assert cancelled.status_code == 200, cancelled.text
    assert desk.credit(approved).status is CreditStatus.VOIDED
    [voided] = desk.audit("credit", approved.credit_id, "credit.voided")
    assert voided.reason == (
        "reversal cancelled by billing operations: "
        "Reversed by hand in the billing system."
    )
    assert desk.reversals(approved) == []


class _PostsButCannotReverse:
    """An adapter plugged in without a reversal: it has no void_credit."""

    def post_credit(self, request: object) -> object:
        raise AssertionError("nothing is posted here")

    def find_by_idempotency_key(self, key: str) -> None:
        return None


def test_a_void_at_a_system_that_cannot_reverse_says_so(desk: Desk) -> None:
    approved = desk.applied()
    assert _void(desk, approved.credit_id).status_code == 200
    handler = VoidCredit(adapter_factory=lambda *_, **__: _PostsButCannotReverse())
    worker = Worker(
        desk.factory,
        clock=desk.clock,
        settings=desk.settings,
        handlers={VOID_TOPIC: handler},
    )

    worker.run_once()

    [message] = desk.messages(approved.credit_id, VOID_TOPIC)
    assert message.status is OutboxStatus.DEAD
    assert "has no reversal operation" in (message.last_error or "")
