"""Billing operations over HTTP: list and read outbox messages, retry a dead
posting until it applies, cancel one so its credit is voided."""

from collections.abc import Iterator

import pytest

from creditdesk.accounts.models import BillingSystem
from creditdesk.approvals.models import WorkItemStatus
from creditdesk.credits.models import CreditStatus
from creditdesk.outbox.models import OutboxStatus
from creditdesk.outbox.registry import CREDIT_POST
from tests.billing import support
from tests.outbox.desk import WHY, Desk, open_desk

OPERATORS = ("finance", "admin")
OTHERS = ("agent", "junior", "lead", "manager", "auditor")
CANCEL = {"comment": "The customer closed the account; no credit is owed."}


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    with open_desk(tmp_path_factory.mktemp("ops")) as desk:
        yield desk


@pytest.mark.parametrize("who", OTHERS)
def test_only_finance_and_admins_reach_the_outbox(desk: Desk, who: str) -> None:
    failed = desk.failed()
    path = f"/ops/outbox/{failed.message_id}"

    answers = [
        desk.get("/ops/outbox", who),
        desk.get(path, who),
        desk.post(f"{path}/retry", who, {"comment": WHY}),
        desk.post(f"{path}/cancel", who, CANCEL),
    ]

    assert [a.status_code for a in answers] == [403] * 4
    assert answers[0].headers["content-type"] == "application/problem+json"
    assert desk.message(failed.message_id).status is OutboxStatus.DEAD


@pytest.mark.parametrize("who", OPERATORS)
def test_the_dead_letters_are_listed_and_read(desk: Desk, who: str) -> None:
    failed = desk.failed()
    applied = desk.applied()

    dead = desk.get("/ops/outbox", who, status="dead", topic=CREDIT_POST)
    delivered = desk.get("/ops/outbox", who, status="delivered")
    one = desk.get(f"/ops/outbox/{failed.message_id}", who)

    assert dead.status_code == 200, dead.text
    rows = dead.json()["items"]
    assert failed.message_id in [row["id"] for row in rows]
    assert {(row["status"], row["topic"]) for row in rows} == {("dead", CREDIT_POST)}
    assert applied.message_id in [row["id"] for row in delivered.json()["items"]]
    assert one.json()["payload"] == {"credit_id": failed.credit_id}
    assert "'zuora' is not configured" in one.json()["last_error"]


def test_the_list_pages_newest_first_and_checks_its_filters(desk: Desk) -> None:
    ids = [desk.failed().message_id for _ in range(3)]

    first = desk.get("/ops/outbox", "finance", status="dead", limit=2).json()
    second = desk.get(
        "/ops/outbox", "finance", status="dead", limit=2, cursor=first["next_cursor"]
    ).json()
    wrong = desk.get("/ops/outbox", "finance", status="lost")
    bad_cursor = desk.get("/ops/outbox", "finance", cursor="nonsense")

    assert [row["id"] for row in first["items"]] == ids[:0:-1]
    assert second["items"][0]["id"] == ids[0]
    assert (wrong.status_code, wrong.json()["field"]) == (422, "status")
    assert (bad_cursor.status_code, bad_cursor.json()["field"]) == (422, "cursor")


def test_unknown_messages_are_404(desk: Desk) -> None:
    missing = "/ops/outbox/987654321"

    answers = [
        desk.get(missing, "finance"),
        desk.post(f"{missing}/retry", "finance", {"comment": WHY}),
        desk.post(f"{missing}/cancel", "admin", CANCEL),
    ]

    assert [a.status_code for a in answers] == [404] * 3


@pytest.mark.parametrize("action", ["retry", "cancel"])
@pytest.mark.parametrize("body", [None, {}, {"comment": "   "}])
def test_retry_and_cancel_need_a_comment(desk: Desk, action: str, body: dict) -> None:
    failed = desk.failed()

    answer = desk.post(f"/ops/outbox/{failed.message_id}/{action}", "finance", body)

    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == ("body" if body is None else "comment")
    assert desk.message(failed.message_id).status is OutboxStatus.DEAD


def test_a_retried_posting_is_applied_once_and_closes_the_handoffs(
    desk: Desk,
) -> None:
    failed = desk.failed()
    assert {i.status for i in desk.handoffs(failed.credit_id)} == {
        WorkItemStatus.PENDING
    }
    desk.set_system(failed, BillingSystem.LEDGER)

    answer = desk.post(
        f"/ops/outbox/{failed.message_id}/retry", "finance", {"comment": WHY}
    )

    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], answer.json()["attempts"]) == ("pending", 0)
    [retried] = desk.audit("outbox_message", failed.message_id, "outbox.retried")
    assert (retried.actor_name, retried.reason) == (desk.org.finance.username, WHY)

    assert desk.drain() == 1

    credit = desk.credit(failed)
    assert credit.status is CreditStatus.APPLIED
    [memo] = support.memos(desk.factory, failed)
    assert credit.external_ref == memo.reference
    assert support.balance(desk.factory, failed) == -failed.amount_minor
    items = desk.handoffs(failed.credit_id)
    assert sorted(i.status for i in items) == [
        WorkItemStatus.DONE,
        WorkItemStatus.NO_RESPONSE,
    ]
    assert desk.audit("credit", failed.credit_id, "work_item.done")


def test_only_a_dead_message_is_retried(desk: Desk) -> None:
    applied = desk.applied()

    answer = desk.post(
        f"/ops/outbox/{applied.message_id}/retry", "admin", {"comment": WHY}
    )

    assert answer.status_code == 409
    assert "only a dead message" in answer.json()["detail"]


@pytest.mark.parametrize("who", OPERATORS)
def test_cancelling_a_dead_posting_voids_the_credit(desk: Desk, who: str) -> None:
    failed = desk.failed()

    answer = desk.post(f"/ops/outbox/{failed.message_id}/cancel", who, CANCEL)

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "cancelled"
    assert desk.credit(failed).status is CreditStatus.VOIDED
    [voided] = desk.audit("credit", failed.credit_id, "credit.voided")
    assert (voided.actor_name, voided.channel) == (
        getattr(desk.org, who).username,
        "api",
    )
    assert voided.reason == CANCEL["comment"]
    assert desk.audit("outbox_message", failed.message_id, "outbox.cancelled")
    items = desk.handoffs(failed.credit_id)
    assert WorkItemStatus.DONE in {i.status for i in items}
    assert not [i for i in items if i.is_open]
    assert support.memos(desk.factory, failed) == []
    # A cancelled posting stays cancelled, and nothing reaches the ledger.
    assert desk.drain() == 0


def test_a_settled_message_or_a_posting_under_way_is_not_cancelled(
    desk: Desk,
) -> None:
    applied = desk.applied()
    waiting = desk.approved()

    delivered = desk.post(f"/ops/outbox/{applied.message_id}/cancel", "admin", CANCEL)
    under_way = desk.post(f"/ops/outbox/{waiting.message_id}/cancel", "admin", CANCEL)

    assert delivered.status_code == 409
    assert (under_way.status_code, under_way.json()["credit_status"]) == (
        409,
        "approved",
    )
    assert desk.message(waiting.message_id).status is OutboxStatus.PENDING
    desk.drain()
    assert desk.credit(waiting).status is CreditStatus.APPLIED


def test_a_cancelled_message_is_not_cancelled_again(desk: Desk) -> None:
    failed = desk.failed()
    path = f"/ops/outbox/{failed.message_id}"
    assert desk.post(f"{path}/cancel", "finance", CANCEL).status_code == 200

    again = desk.post(f"{path}/cancel", "finance", CANCEL)
    retried = desk.post(f"{path}/retry", "finance", {"comment": WHY})

    assert (again.status_code, retried.status_code) == (409, 409)
    assert len(desk.audit("credit", failed.credit_id, "credit.voided")) == 1


def test_the_routes_are_documented(desk: Desk) -> None:
    paths = desk.client.get("/openapi.json").json()["paths"]

    assert {"get"} <= set(paths["/api/v1/ops/outbox"])
    assert "post" in paths["/api/v1/ops/outbox/{message_id}/cancel"]
    assert "post" in paths["/api/v1/credits/{credit_ref}/void"]
