"""Asking for more information, resubmitting, and recalling a returned draft."""

from typing import Any

import pytest
import sqlalchemy as sa

from creditdesk.approvals.models import ApprovalRequest
from creditdesk.cases.models import Case
from creditdesk.credits.models import BillingCredit
from creditdesk.users.models import Role
from tests.approvals.support import Line, World

QUESTION = {"comment": "Which invoice was charged twice?"}


def _returned(world: World, amount: str = "50.00") -> tuple[Line, dict[str, Any]]:
    """A credit an approver sent back to its agent with a question."""
    line = world.line()
    credit = world.raise_credit(line.agent, amount)
    response = world.post(f"/credits/{credit['id']}/request-info", line.lead, QUESTION)
    assert response.status_code == 200, response.text
    return line, response.json()


def _case_status(world: World, credit_id: int) -> str:
    with world.session() as session:
        credit = session.get_one(BillingCredit, credit_id)
        return session.get_one(Case, credit.case_id).status.value


def test_asking_for_information_needs_a_question(world: World) -> None:
    line = world.line()
    credit = world.raise_credit(line.agent, "50.00")

    for body in ({}, {"comment": "   "}):
        response = world.post(f"/credits/{credit['id']}/request-info", line.lead, body)
        assert response.status_code == 422
        assert response.json()["field"] == "comment"
    [item] = world.open_items(credit["id"])
    decide = world.post(
        f"/work-items/{item.id}/decide", line.lead, {"decision": "request_info"}
    )
    assert decide.status_code == 422
    assert world.status(credit["id"]) == "pending_approval"


def test_asking_for_information_returns_a_draft_to_the_agent(world: World) -> None:
    line, credit = _returned(world)

    assert credit["status"] == "draft"
    assert _case_status(world, credit["id"]) == "pending"
    [handoff] = world.open_items(credit["id"])
    assert (handoff.kind.value, handoff.assignee_id, handoff.comment) == (
        "more_info",
        line.agent.id,
        QUESTION["comment"],
    )
    [step] = world.steps(credit["id"])
    assert step.status.value == "returned"
    inbox = world.get("/work-items", line.agent, kind="more_info").json()["items"]
    assert [row["work_item"]["id"] for row in inbox] == [handoff.id]
    done = world.post(
        f"/work-items/{handoff.id}/complete", line.agent, {"decision": "done"}
    )
    assert done.status_code == 409


def test_a_lower_amount_within_the_limit_is_approved_at_once(world: World) -> None:
    line, credit = _returned(world)

    response = world.post(
        f"/credits/{credit['id']}/resubmit",
        line.agent,
        {"amount": "15.00", "comment": "Only one month was doubled"},
    )

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "approved"
    assert response.json()["amount"] == "15.00"
    assert world.postings(credit["id"]) == 1
    assert world.open_items(credit["id"]) == []
    assert _case_status(world, credit["id"]) == "open"
    [handoff] = world.items(credit["id"], kind="more_info")
    assert (handoff.status.value, handoff.decided_by_id) == ("done", line.agent.id)


def test_a_higher_amount_starts_the_longer_chain_from_step_one(world: World) -> None:
    line, credit = _returned(world)

    response = world.post(
        f"/credits/{credit['id']}/resubmit", line.agent, {"amount": "650.00"}
    )

    assert response.json()["status"] == "pending_approval"
    first_request, *second_request = world.steps(credit["id"])
    assert first_request.kind == "manager"
    assert first_request.status.value == "returned"
    assert [(s.sequence, s.kind, s.status.value) for s in second_request] == [
        (1, "manager", "pending"),
        (2, "queue:finance", "waiting"),
    ]
    assert second_request[0].request_id != first_request.request_id
    [item] = world.open_items(credit["id"])
    assert (item.assignee_id, item.step_id) == (line.lead.id, second_request[0].id)

    history = world.get(f"/credits/{credit['id']}/history", line.agent).json()
    assert [s["status"] for s in history["steps"]] == ["returned", "pending", "waiting"]
    assert [(i["kind"], i["status"]) for i in history["work_items"]] == [
        ("approval", "done"),
        ("more_info", "done"),
        ("approval", "pending"),
    ]


def test_resubmitting_unchanged_does_not_count_the_credit_against_itself(
    world: World,
) -> None:
    line, credit = _returned(world, amount="50.00")

    response = world.post(
        f"/credits/{credit['id']}/resubmit",
        line.agent,
        {"justification": "Invoice INV-2 charged the March fee twice over."},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "pending_approval"
    assert [r["id"] for r in body["decision"]["rules"]] == ["amount.over_auto_limit"]
    assert body["near_duplicate"] is False


def test_a_resubmitted_credit_counts_once_against_the_contract_cap(
    world: World,
) -> None:
    line = world.line()
    customer = world.customer(line.agent, cap_minor=50_000)
    credit = world.raise_credit(line.agent, "450.00", customer=customer)
    assert world.named is not None
    world.post(f"/credits/{credit['id']}/request-info", world.named, QUESTION)

    response = world.post(
        f"/credits/{credit['id']}/resubmit", line.agent, {"amount": "300.00"}
    )

    body = response.json()
    assert "cap.exceeded" not in [r["id"] for r in body["decision"]["rules"]]
    assert body["over_cap"] is False


def test_a_resubmitted_amount_refused_by_the_policy_reopens_the_case(
    world: World,
) -> None:
    line, credit = _returned(world)

    response = world.post(
        f"/credits/{credit['id']}/resubmit", line.agent, {"amount": "4000.00"}
    )

    assert response.json()["status"] == "refused"
    # Nothing on the case awaits approval any more.
    assert _case_status(world, credit["id"]) == "open"


@pytest.mark.parametrize("amount", ["abc", "0.00", "-5.00", "1.234"])
def test_a_bad_amount_is_a_422_and_changes_nothing(world: World, amount: str) -> None:
    line, credit = _returned(world)

    response = world.post(
        f"/credits/{credit['id']}/resubmit", line.agent, {"amount": amount}
    )

    assert response.status_code == 422
    assert response.json()["field"] == "amount"
    assert world.status(credit["id"]) == "draft"
    [handoff] = world.open_items(credit["id"])
    assert handoff.kind.value == "more_info"


def test_only_the_requester_or_an_edit_share_may_resubmit(world: World) -> None:
    line, credit = _returned(world)
    path = f"/credits/{credit['id']}/resubmit"
    colleague = world.person(Role.AGENT, team=line.team, manager=line.lead)

    assert world.post(path, line.lead, {}).status_code == 403
    assert world.post(path, colleague, {}).status_code in (403, 404)

    shared = world.post(
        f"/credits/{credit['id']}/shares",
        line.agent,
        {"user_id": colleague.id, "access": "edit"},
    )
    assert shared.status_code == 201, shared.text
    response = world.post(path, colleague, {"amount": "12.00"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "approved"


def test_only_a_draft_can_be_resubmitted(world: World) -> None:
    line = world.line()
    credit = world.raise_credit(line.agent, "50.00")

    response = world.post(f"/credits/{credit['id']}/resubmit", line.agent, {})

    assert response.status_code == 409
    assert world.status(credit["id"]) == "pending_approval"


def test_a_returned_draft_can_be_recalled(world: World) -> None:
    line, credit = _returned(world)

    response = world.post(f"/credits/{credit['id']}/recall", line.agent)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "recalled"
    assert world.open_items(credit["id"]) == []
    assert _case_status(world, credit["id"]) == "open"
    again = world.post(f"/credits/{credit['id']}/resubmit", line.agent, {})
    assert again.status_code == 409


def test_information_asked_at_a_later_step_restarts_the_chain(world: World) -> None:
    line = world.line()
    finance = world.person(Role.FINANCE)
    credit = world.raise_credit(line.agent, "650.00")
    world.post(f"/credits/{credit['id']}/approve", line.lead)
    item = world.item_of(credit["id"], finance)

    asked = world.post(
        f"/work-items/{item.id}/decide",
        finance,
        {"decision": "request_info", "comment": "Send the customer's statement"},
    )
    assert asked.status_code == 200, asked.text
    assert asked.json()["credit"]["status"] == "draft"
    resubmitted = world.post(f"/credits/{credit['id']}/resubmit", line.agent, {})

    assert resubmitted.json()["status"] == "pending_approval"
    # The manager who approved the first request decides the new one afresh.
    [again] = world.open_items(credit["id"])
    assert again.assignee_id == line.lead.id
    approved = world.post(f"/credits/{credit['id']}/approve", line.lead)
    assert approved.status_code == 200, approved.text


def test_the_credit_keeps_the_time_of_its_first_approval_request(
    world: World,
) -> None:
    line, credit = _returned(world, amount="50.00")
    world.post(
        f"/credits/{credit['id']}/resubmit",
        line.agent,
        {"justification": "Invoice INV-2 charged the March fee twice over."},
    )

    with world.session() as session:
        first = session.scalar(
            sa.select(sa.func.min(ApprovalRequest.created_at)).where(
                ApprovalRequest.credit_id == credit["id"]
            )
        )
        requests = session.scalar(
            sa.select(sa.func.count()).where(ApprovalRequest.credit_id == credit["id"])
        )
        kept = session.get_one(BillingCredit, credit["id"]).approval_requested_at

    assert requests == 2
    assert kept == first


def test_a_credit_raised_for_approval_is_written_with_its_request_s_time(
    world: World,
) -> None:
    line = world.line()
    credit = world.raise_credit(line.agent, "50.00")

    with world.session() as session:
        stored = session.get_one(BillingCredit, credit["id"])
        [request] = session.scalars(
            sa.select(ApprovalRequest).where(ApprovalRequest.credit_id == stored.id)
        )

    assert stored.approval_requested_at == request.created_at
    # Written once, in the state its judgement put it in.
    assert stored.version == 1
