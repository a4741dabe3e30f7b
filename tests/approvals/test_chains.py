"""Step modes end to end: who gets the work, and when a step is settled."""

from creditdesk.users.models import Role
from tests.approvals.support import World

REJECTED = {"comment": "Not what the contract covers"}


def test_a_manager_step_goes_to_the_requesters_manager_alone(world: World) -> None:
    line = world.line()
    credit = world.raise_credit(line.agent, "50.00")

    assert credit["status"] == "pending_approval"
    [item] = world.open_items(credit["id"])
    assert (item.assignee_id, item.queue_role, item.origin) == (
        line.lead.id,
        None,
        "policy",
    )
    [step] = world.steps(credit["id"])
    assert (step.kind, step.mode, step.status.value) == ("manager", "one", "pending")

    response = world.post(f"/credits/{credit['id']}/approve", line.lead)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "approved"
    assert world.postings(credit["id"]) == 1
    [step] = world.steps(credit["id"])
    assert (step.status.value, step.acting_approver_id) == ("approved", line.lead.id)


def test_the_first_answer_of_a_group_settles_its_step(world: World) -> None:
    line = world.line()
    credit = world.raise_credit(line.agent, "150.00")
    items = world.open_items(credit["id"])
    assert {i.assignee_id for i in items} == {p.id for p in world.group}
    assert {i.queue_role for i in items} == {None}
    assert world.steps(credit["id"])[0].mode == "first"

    second = world.group[1]
    response = world.post(f"/credits/{credit['id']}/approve", second)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "approved"
    statuses = {i.assignee_id: i.status.value for i in world.items(credit["id"])}
    assert statuses == {
        world.group[0].id: "no_response",
        second.id: "approved",
        world.group[2].id: "no_response",
    }
    late = world.post(f"/credits/{credit['id']}/approve", world.group[0])
    assert late.status_code == 409


def test_an_all_step_waits_for_every_member(world: World) -> None:
    line = world.line()
    credit = world.raise_credit(line.agent, "250.00")
    first, second, third = world.group

    for member in (first, second):
        response = world.post(f"/credits/{credit['id']}/approve", member)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "pending_approval"
    again = world.post(f"/credits/{credit['id']}/approve", first)
    assert again.status_code == 403
    assert again.json()["rule"] == "not_assigned"
    assert world.postings(credit["id"]) == 0

    response = world.post(f"/credits/{credit['id']}/approve", third)

    assert response.json()["status"] == "approved"
    assert [i.status.value for i in world.items(credit["id"])] == ["approved"] * 3
    [step] = world.steps(credit["id"])
    assert (step.status.value, step.acting_approver_id) == ("approved", third.id)
    assert world.actions(credit["id"]).count("approval.step_approved") == 3
    assert world.postings(credit["id"]) == 1


def test_one_rejection_rejects_an_all_step(world: World) -> None:
    line = world.line()
    credit = world.raise_credit(line.agent, "250.00")
    first, second, third = world.group
    world.post(f"/credits/{credit['id']}/approve", first)

    response = world.post(f"/credits/{credit['id']}/reject", second, REJECTED)

    assert response.json()["status"] == "rejected"
    statuses = {
        i.assignee_id: i.status.value
        for i in world.items(credit["id"], kind="approval")
    }
    assert statuses == {
        first.id: "approved",
        second.id: "rejected",
        third.id: "no_response",
    }
    assert world.postings(credit["id"]) == 0


def test_a_queue_step_gives_every_eligible_member_an_item(world: World) -> None:
    line = world.line()
    world.person(Role.FINANCE)
    world.person(Role.FINANCE)
    credit = world.raise_credit(line.agent, "350.00")

    items = world.open_items(credit["id"])

    assert {i.assignee_id for i in items} == world.eligible(Role.FINANCE)
    assert {i.queue_role for i in items} == {"finance"}
    assert {i.claimed_at for i in items} == {None}
    [step] = world.steps(credit["id"])
    assert (step.kind, step.mode) == ("queue:finance", "first")


def test_a_named_user_step_goes_to_that_user(world: World) -> None:
    line = world.line()
    credit = world.raise_credit(line.agent, "450.00")

    [item] = world.open_items(credit["id"])

    assert world.named is not None
    assert (item.assignee_id, item.queue_role) == (world.named.id, None)
    response = world.post(f"/credits/{credit['id']}/approve", world.named)
    assert response.json()["status"] == "approved"


def test_a_missing_named_user_falls_back_to_the_manager_queue(world: World) -> None:
    line = world.line()
    credit = world.raise_credit(line.agent, "550.00")

    items = world.open_items(credit["id"])

    assert {i.assignee_id for i in items} == world.eligible(Role.MANAGER)
    assert {i.queue_role for i in items} == {"manager"}
    response = world.post(f"/credits/{credit['id']}/approve", line.director)
    assert response.json()["status"] == "approved"
    assert len(world.open_items(credit["id"])) == 0


def test_a_group_of_missing_users_falls_back_to_one_manager_answering(
    world: World,
) -> None:
    # Nobody named can decide, so the step is the manager queue's; asking
    # every manager in the organisation to approve would stall the credit.
    line = world.line()
    credit = world.raise_credit(line.agent, "850.00")
    assert {i.queue_role for i in world.open_items(credit["id"])} == {"manager"}

    response = world.post(f"/credits/{credit['id']}/approve", line.manager)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "approved"
    assert world.open_items(credit["id"]) == []


def test_rejecting_back_at_step_two_asks_step_one_again(world: World) -> None:
    line = world.line()
    finance = world.person(Role.FINANCE)
    credit = world.raise_credit(line.agent, "650.00")
    path = f"/credits/{credit['id']}"
    assert world.post(f"{path}/approve", line.lead).status_code == 200

    response = world.post(f"{path}/reject", finance, REJECTED)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "pending_approval"
    first, second = world.steps(credit["id"])
    assert (first.status.value, second.status.value) == ("pending", "waiting")
    [again] = world.open_items(credit["id"])
    assert again.assignee_id == line.lead.id
    assert "approval.sent_back" in world.actions(credit["id"])

    assert world.post(f"{path}/approve", line.lead).status_code == 200
    first, second = world.steps(credit["id"])
    assert (first.status.value, second.status.value) == ("approved", "pending")
    assert {i.assignee_id for i in world.open_items(credit["id"])} == (
        world.eligible(Role.FINANCE)
    )
    final = world.post(f"{path}/approve", finance)
    assert final.json()["status"] == "approved"
    assert world.postings(credit["id"]) == 1


def test_rejecting_back_at_step_one_returns_the_credit_to_its_agent(
    world: World,
) -> None:
    line = world.line()
    credit = world.raise_credit(line.agent, "750.00")

    response = world.post(
        f"/credits/{credit['id']}/reject", line.lead, {"comment": "Which invoice?"}
    )

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "draft"
    [step] = world.steps(credit["id"])
    assert step.status.value == "returned"
    [handoff] = world.open_items(credit["id"])
    assert (handoff.kind.value, handoff.assignee_id, handoff.comment) == (
        "more_info",
        line.agent.id,
        "Which invoice?",
    )


def test_three_steps_go_up_the_line_then_to_finance(world: World) -> None:
    line = world.line()
    credit = world.raise_credit(line.agent, "1500.00")
    path = f"/credits/{credit['id']}/approve"

    assert [s.kind for s in world.steps(credit["id"])] == [
        "manager",
        "manager_2",
        "queue:finance",
    ]
    assert world.post(path, line.lead).status_code == 200
    [item] = world.open_items(credit["id"])
    assert item.assignee_id == line.manager.id
    refused = world.post(path, line.lead)
    assert refused.status_code == 403
    assert refused.json()["rule"] == "two_steps"
