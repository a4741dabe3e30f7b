"""Queue work: claiming it, deciding it without a claim, and the inbox."""

from typing import Any

import pytest

from creditdesk.users.models import Role
from tests.approvals.support import Person, World

QUEUE_AMOUNT = "350.00"


def _queue_credit(world: World) -> tuple[dict[str, Any], Person, Person]:
    """A credit waiting on the finance queue, and two of its members."""
    first = world.person(Role.FINANCE)
    second = world.person(Role.FINANCE)
    line = world.line()
    return world.raise_credit(line.agent, QUEUE_AMOUNT), first, second


def test_claiming_takes_the_item_and_releases_the_others(world: World) -> None:
    credit, first, second = _queue_credit(world)
    item = world.item_of(credit["id"], first)

    response = world.post(f"/work-items/{item.id}/claim", first)

    assert response.status_code == 200, response.text
    body = response.json()["work_item"]
    assert (body["id"], body["status"], body["assignee_id"]) == (
        item.id,
        "pending",
        first.id,
    )
    assert body["claimed_at"] is not None
    others = [i for i in world.items(credit["id"]) if i.id != item.id]
    assert others and {i.status.value for i in others} == {"no_response"}
    assert "work_item.claimed" in world.actions(credit["id"])

    again = world.post(f"/work-items/{item.id}/claim", first)
    assert again.status_code == 409
    (released,) = [i for i in others if i.assignee_id == second.id]
    late = world.post(f"/work-items/{released.id}/claim", second)
    assert late.status_code == 409
    # Someone else took it: a conflict naming what became of their copy.
    refused = world.post(f"/credits/{credit['id']}/approve", second)
    assert refused.status_code == 409
    assert refused.json()["work_item_status"] == "no_response"

    decided = world.post(
        f"/work-items/{item.id}/decide", first, {"decision": "approve"}
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["credit"]["status"] == "approved"


def test_an_item_cannot_be_claimed_after_its_decision(world: World) -> None:
    credit, first, _ = _queue_credit(world)
    item = world.item_of(credit["id"], first)
    world.post(f"/work-items/{item.id}/decide", first, {"decision": "approve"})

    assert world.post(f"/work-items/{item.id}/claim", first).status_code == 409


def test_a_member_decides_without_claiming(world: World) -> None:
    credit, _, second = _queue_credit(world)
    item = world.item_of(credit["id"], second)

    response = world.post(
        f"/work-items/{item.id}/decide",
        second,
        {"decision": "reject", "comment": "No such charge on the invoice"},
    )

    assert response.status_code == 200, response.text
    assert response.json()["work_item"]["status"] == "rejected"
    assert response.json()["credit"]["status"] == "rejected"
    statuses = {i.status.value for i in world.items(credit["id"], kind="approval")}
    assert statuses == {"rejected", "no_response"}


def test_only_the_items_holder_may_claim_it(world: World) -> None:
    credit, first, second = _queue_credit(world)
    item = world.item_of(credit["id"], first)
    outsider = world.person(Role.MANAGER)

    assert world.post(f"/work-items/{item.id}/claim", second).status_code == 403
    assert world.post(f"/work-items/{item.id}/claim", outsider).status_code in (
        403,
        404,
    )
    agent = world.person(Role.AGENT)
    assert world.post(f"/work-items/{item.id}/claim", agent).status_code == 404


def test_a_member_kept_out_by_the_duties_may_not_claim(world: World) -> None:
    credit, first, _ = _queue_credit(world)
    item = world.item_of(credit["id"], first)
    # The reporting line changed after the item was handed out: the member now
    # reports to the requester, and may no longer decide the credit.
    with world.session() as session:
        member = session.get_one(type(first.user), first.id)
        member.manager_id = credit["requested_by_id"]
        session.commit()

    response = world.post(f"/work-items/{item.id}/claim", first)

    assert response.status_code == 403
    assert response.json()["rule"] == "reports_to_requester"
    assert world.item_of(credit["id"], first).claimed_at is None


def _ids(world: World, who: Person, **params: Any) -> list[int]:
    response = world.get("/work-items", who, **params)
    assert response.status_code == 200, response.text
    return [row["work_item"]["id"] for row in response.json()["items"]]


def test_the_inbox_tells_claimed_work_from_queue_work(world: World) -> None:
    member = world.person(Role.FINANCE)
    claimed, queued = (world.raise_credit(world.line().agent, "360.00") for _ in "ab")
    mine = world.item_of(claimed["id"], member)
    waiting = world.item_of(queued["id"], member)
    world.post(f"/work-items/{mine.id}/claim", member)

    assert _ids(world, member, assigned="me") == [mine.id]
    assert _ids(world, member, assigned="queue") == [waiting.id]
    assert _ids(world, member) == [mine.id, waiting.id]


def test_a_personal_item_is_mine_not_the_queues(world: World) -> None:
    line = world.line()
    credit = world.raise_credit(line.agent, "50.00")
    [item] = world.open_items(credit["id"])

    assert _ids(world, line.lead, assigned="me") == [item.id]
    assert _ids(world, line.lead, assigned="queue") == []


def test_the_inbox_filters_by_status_and_kind(world: World) -> None:
    line = world.line()
    approved = world.raise_credit(line.agent, "50.00")
    waiting = world.raise_credit(line.agent, "50.00")
    world.post(f"/credits/{approved['id']}/approve", line.lead)
    [done] = world.items(approved["id"])
    [open_] = world.open_items(waiting["id"])

    assert _ids(world, line.lead) == [open_.id]
    assert _ids(world, line.lead, status="any") == [done.id, open_.id]
    assert _ids(world, line.lead, status="approved") == [done.id]
    assert _ids(world, line.lead, kind="approval", status="any") == [
        done.id,
        open_.id,
    ]
    assert _ids(world, line.lead, kind="posting_failed", status="any") == []


@pytest.mark.parametrize(("name", "value"), [("status", "nope"), ("kind", "nope")])
def test_an_unknown_filter_value_is_a_422_naming_it(
    world: World, name: str, value: str
) -> None:
    lead = world.line().lead

    response = world.get("/work-items", lead, **{name: value})

    assert response.status_code == 422
    assert response.json()["field"] == name


def test_the_inbox_pages_with_a_cursor(world: World) -> None:
    line = world.line()
    credits = [world.raise_credit(line.agent, "50.00") for _ in range(5)]
    expected = [world.open_items(c["id"])[0].id for c in credits]

    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = world.get("/work-items", line.lead, **params).json()
        seen += [row["work_item"]["id"] for row in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert seen == expected
    assert pages == 3
    # A page that holds exactly what is left says there is nothing after it.
    exact = world.get("/work-items", line.lead, limit=5).json()
    assert len(exact["items"]) == 5 and exact["next_cursor"] is None
    assert world.get("/work-items", line.lead, cursor="x1").status_code == 400


def test_a_junior_agent_never_sees_an_amount_through_work_items(
    world: World,
) -> None:
    line = world.line()
    junior = world.person(Role.JUNIOR_AGENT, team=line.team, manager=line.lead)
    customer = world.customer(junior)
    credit = world.raise_credit(line.agent, "50.00", customer=customer)
    [item] = world.open_items(credit["id"])
    world.post(
        f"/credits/{credit['id']}/reject",
        line.lead,
        {"comment": "GBP 50.00 is more than the disputed charge"},
    )

    listed = world.get("/work-items", junior, status="any").json()["items"]
    one = world.get(f"/work-items/{item.id}", junior)
    history = world.get(f"/credits/{credit['id']}/history", junior).json()

    assert one.status_code == 200, one.text
    for row in [*listed, one.json()]:
        assert "amount" not in row["credit"]
        assert "amount_minor" not in row["credit"]
    assert "50.00" not in one.text
    assert all("50.00" not in (i["comment"] or "") for i in history["work_items"])
