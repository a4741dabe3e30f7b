"""Handoffs and reassignment through the work-item routes."""

from datetime import UTC, datetime

from creditdesk.accounts.models import Account, BillingSystem
from creditdesk.billing.tasks import PostCredit
from creditdesk.cases.models import Case
from creditdesk.clock import FrozenClock
from creditdesk.config import Settings
from creditdesk.outbox.registry import CREDIT_POST
from creditdesk.outbox.worker import Worker
from creditdesk.users.models import Role
from tests.approvals.support import World

DONE = {"decision": "done"}
WHY = "The customer already had this month refunded"


def test_a_rejection_hands_the_credit_back_and_reopens_the_case(
    world: World,
) -> None:
    line = world.line()
    customer = world.customer(line.agent)
    credit = world.raise_credit(line.agent, "50.00", customer=customer)
    with world.session() as session:
        assert session.get_one(Case, customer.case.id).status.value == "pending"

    response = world.post(
        f"/credits/{credit['id']}/reject", line.lead, {"comment": WHY}
    )

    assert response.json()["status"] == "rejected"
    with world.session() as session:
        assert session.get_one(Case, customer.case.id).status.value == "open"
    [handoff] = world.open_items(credit["id"])
    assert (handoff.kind.value, handoff.assignee_id, handoff.comment) == (
        "rejected",
        line.agent.id,
        WHY,
    )
    inbox = world.get("/work-items", line.agent, kind="rejected").json()["items"]
    assert [row["work_item"]["id"] for row in inbox] == [handoff.id]
    path = f"/work-items/{handoff.id}"
    assert world.post(f"{path}/complete", line.lead, DONE).status_code == 403
    wrong = world.post(f"{path}/complete", line.agent, {"decision": "approve"})
    assert (wrong.status_code, wrong.json()["field"]) == (422, "decision")
    decide = world.post(f"{path}/decide", line.agent, {"decision": "approve"})
    assert decide.status_code in (403, 422)

    done = world.post(f"{path}/complete", line.agent, DONE | {"comment": "Told"})

    assert done.status_code == 200, done.text
    assert done.json()["work_item"]["status"] == "done"
    assert world.post(f"{path}/complete", line.agent, DONE).status_code == 409
    assert "work_item.done" in world.actions(credit["id"])


def _fail_posting(world: World, credit_id: int) -> None:
    """Run the credit's posting against a billing system with no adapter."""
    with world.session() as session:
        account_id = session.get_one(Case, _case_id(world, credit_id)).account_id
        session.get_one(Account, account_id).billing_system = BillingSystem.ZUORA
        session.commit()
    worker = Worker(
        world.factory,
        clock=FrozenClock(datetime.now(UTC)),
        settings=Settings(env="test"),
        name="approvals-test",
        handlers={CREDIT_POST: PostCredit()},
    )
    while worker.run_once():
        pass


def _case_id(world: World, credit_id: int) -> int:
    return world.credit(credit_id, world.person(Role.ADMIN))["case_id"]


def test_a_failed_posting_goes_to_every_finance_user(world: World) -> None:
    first = world.person(Role.FINANCE)
    second = world.person(Role.FINANCE)
    line = world.line()
    credit = world.raise_credit(line.agent, "15.00")
    assert credit["status"] == "approved"

    _fail_posting(world, credit["id"])

    assert world.status(credit["id"]) == "posting_failed"
    items = world.open_items(credit["id"])
    assert {i.kind.value for i in items} == {"posting_failed"}
    assert {i.assignee_id for i in items} == world.eligible(Role.FINANCE)
    mine = world.item_of(credit["id"], first)
    listed = world.get("/work-items", first, kind="posting_failed").json()["items"]
    assert mine.id in [row["work_item"]["id"] for row in listed]
    assert "zuora" in (mine.comment or "")

    done = world.post(f"/work-items/{mine.id}/complete", first, DONE)

    assert done.status_code == 200, done.text
    others = [i for i in world.items(credit["id"]) if i.id != mine.id]
    assert {i.status.value for i in others} == {"no_response"}
    theirs = world.items(credit["id"], assignee_id=second.id)[0]
    late = world.post(f"/work-items/{theirs.id}/complete", second, DONE)
    assert late.status_code == 409


def test_managers_reassign_and_the_new_holder_decides(world: World) -> None:
    line = world.line()
    stand_in = world.person(Role.MANAGER)
    credit = world.raise_credit(line.agent, "50.00")
    [item] = world.open_items(credit["id"])

    response = world.post(
        f"/work-items/{item.id}/reassign",
        line.manager,
        {"assignee_id": stand_in.id, "comment": "Lead is on leave"},
    )

    assert response.status_code == 200, response.text
    new = response.json()["work_item"]
    assert (new["assignee_id"], new["origin"], new["status"]) == (
        stand_in.id,
        "reassigned",
        "pending",
    )
    [old] = world.items(credit["id"], id=item.id)
    assert old.status.value == "reassigned"
    assert "work_item.reassigned" in world.actions(credit["id"])
    refused = world.post(f"/credits/{credit['id']}/approve", line.lead)
    assert (refused.status_code, refused.json()["rule"]) == (403, "not_assigned")
    decided = world.post(
        f"/work-items/{new['id']}/decide", stand_in, {"decision": "approve"}
    )
    assert decided.json()["credit"]["status"] == "approved"


def test_agents_and_finance_may_not_reassign(world: World) -> None:
    line = world.line()
    credit = world.raise_credit(line.agent, "50.00")
    [item] = world.open_items(credit["id"])
    finance = world.person(Role.FINANCE)

    for who in (line.agent, finance):
        response = world.post(
            f"/work-items/{item.id}/reassign", who, {"assignee_id": line.manager.id}
        )
        assert response.status_code == 403
    assert world.open_items(credit["id"])[0].id == item.id


def test_reassigning_to_someone_the_duties_refuse_is_a_403(world: World) -> None:
    line = world.line()
    below = world.person(Role.TEAM_LEAD, team=line.team, manager=line.lead)
    # The team lead raises it, so the manager above them decides.
    credit = world.raise_credit(line.lead, "50.00")
    [item] = world.open_items(credit["id"])
    assert item.assignee_id == line.manager.id
    path = f"/work-items/{item.id}/reassign"

    cases = [(line.lead, "own_credit"), (below, "reports_to_requester")]
    for target, rule in cases:
        response = world.post(path, line.director, {"assignee_id": target.id})
        assert response.status_code == 403, response.text
        assert response.json()["rule"] == rule
    agent = world.post(path, line.director, {"assignee_id": line.agent.id})
    assert (agent.status_code, agent.json()["rule"]) == (403, "not_approver")
    unknown = world.post(path, line.director, {"assignee_id": 10**9})
    assert (unknown.status_code, unknown.json()["field"]) == (422, "assignee_id")
    assert world.open_items(credit["id"])[0].id == item.id


def test_an_all_step_is_not_reassigned_to_one_of_its_own_approvers(
    world: World,
) -> None:
    # Two items for one person would let them count twice towards "all".
    line = world.line()
    admin = world.person(Role.ADMIN)
    credit = world.raise_credit(line.agent, "250.00")
    first, second, _ = world.group
    item = world.item_of(credit["id"], first)

    response = world.post(
        f"/work-items/{item.id}/reassign", admin, {"assignee_id": second.id}
    )

    assert response.status_code == 422, response.text
    assert response.json()["field"] == "assignee_id"
    assert world.item_of(credit["id"], first).id == item.id


def test_nobody_reassigns_the_approval_of_their_own_credit(world: World) -> None:
    line = world.line()
    friend = world.person(Role.MANAGER)
    # The team lead raises it; a lead may reassign work, but not this work.
    credit = world.raise_credit(line.lead, "50.00")
    [item] = world.open_items(credit["id"])

    response = world.post(
        f"/work-items/{item.id}/reassign", line.lead, {"assignee_id": friend.id}
    )

    assert (response.status_code, response.json()["rule"]) == (403, "own_credit")
    assert world.open_items(credit["id"])[0].id == item.id
