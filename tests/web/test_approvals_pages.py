"""The approvals inbox: what waits, deciding from the inbox and an item's page,
the duties and field levels as in the API, and refusals shown on the page."""

import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.access.service import actor_for
from creditdesk.actors import Channel
from creditdesk.approvals.models import (
    ApprovalStep,
    StepStatus,
    WorkItemStatus,
)
from creditdesk.config import Settings
from creditdesk.credits import decisions
from creditdesk.credits.models import CreditStatus
from creditdesk.credits.service import POST_TOPIC
from creditdesk.db import transaction
from creditdesk.outbox.models import OutboxMessage
from creditdesk.users.models import User
from creditdesk.web import inbox as inbox_module
from creditdesk.web.inbox import due
from tests.access.field_support import field_override
from tests.factories import Org, now
from tests.web.approvals_support import (
    card_of,
    credit_of,
    decide,
    entries_of,
    item_of,
    pending_item,
    raise_credit,
    reassign,
)
from tests.web.conftest import ClientFor
from tests.web.support import Desk, csrf_of
from tests.web.test_credit_pages import JUSTIFICATION


def test_the_inbox_lists_what_waits_for_the_lead_and_nothing_else(
    client_for: ClientFor, desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    waiting = raise_credit(client_for, desk.agent, desk.outage_case_id, "35.00")
    at_once = raise_credit(client_for, desk.agent, desk.case_id, "10.00")
    item_id = pending_item(session_factory, waiting, desk.lead)
    number = credit_of(session_factory, waiting).number

    html = client_for(desk.lead).get("/approvals").text

    card = card_of(html, item_id)
    assert "Assigned to you (1)" in html
    assert "In your queues (0)" in html
    assert f"{number}</a>" in card and "GBP 35.00" in card
    assert "Broadband outage" in card and desk.account_number in card
    assert desk.agent.display_name in card
    assert JUSTIFICATION in card
    assert re.search(r"\d+ (d|h|min)[^<]* left</span>", card)
    assert "Escalates</dt>" in card
    assert credit_of(session_factory, at_once).number not in html
    assert client_for(desk.manager).get("/approvals").text.count(number) == 0


def test_time_left_reads_as_people_say_it() -> None:
    at = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)

    assert due(at, at - timedelta(hours=3, minutes=20)).text == "3 h 20 min left"
    assert due(at, at - timedelta(days=2, hours=3)).text == "2 d 3 h left"
    late = due(at, at + timedelta(minutes=45))
    assert late.text == "Overdue by 45 min" and late.overdue
    assert due(None, at).text == "No deadline"


def test_approving_from_the_inbox_approves_the_credit_as_the_api_does(
    client_for: ClientFor, desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    credit_id = raise_credit(client_for, desk.agent, desk.outage_case_id, "35.00")
    item_id = pending_item(session_factory, credit_id, desk.lead)
    lead = client_for(desk.lead)

    response = decide(lead, item_id, "approve", "Fine by me.")

    assert response.status_code == 303
    assert response.headers["location"] == "/approvals"
    credit = credit_of(session_factory, credit_id)
    assert credit.status is CreditStatus.APPROVED and credit.decided_at is not None
    item = item_of(session_factory, item_id)
    assert item.status is WorkItemStatus.APPROVED
    assert item.decided_by_id == desk.lead.id and item.comment == "Fine by me."
    with session_factory() as session:
        step = session.get_one(ApprovalStep, item.step_id)
        assert step.status is StepStatus.APPROVED
        recent = session.scalars(
            sa.select(OutboxMessage.payload)
            .where(OutboxMessage.topic == POST_TOPIC)
            .order_by(OutboxMessage.id.desc())
            .limit(50)
        ).all()
    assert {"credit_id": credit_id} in recent
    entries = entries_of(session_factory, credit_id)
    mine = [e for e in entries if e.actor_id == desk.lead.id]
    assert {e.action for e in mine} >= {"approval.step_approved", "credit.approved"}
    assert {e.channel for e in mine} == {"web"}
    after = lead.get("/approvals").text
    assert f"{credit.number} approved: the credit is now approved." in after
    assert f'id="item-{item_id}"' not in after


def test_a_rejection_without_a_comment_is_refused_next_to_the_field(
    client_for: ClientFor, desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    credit_id = raise_credit(client_for, desk.agent, desk.outage_case_id, "35.00")
    item_id = pending_item(session_factory, credit_id, desk.lead)
    before = len(entries_of(session_factory, credit_id))
    lead = client_for(desk.lead)

    refused = decide(lead, item_id, "reject", "   ")

    assert refused.status_code == 422
    card = card_of(refused.text, item_id)
    assert (
        f'<p class="field-error" id="comment-{item_id}-error">'
        "a rejection needs a comment</p>"
    ) in card
    assert f'aria-describedby="comment-{item_id}-error"' in card
    assert credit_of(session_factory, credit_id).status is CreditStatus.PENDING_APPROVAL
    assert item_of(session_factory, item_id).status is WorkItemStatus.PENDING
    assert len(entries_of(session_factory, credit_id)) == before

    rejected = decide(lead, item_id, "reject", "Outage was only two hours.")

    assert rejected.status_code == 303
    assert credit_of(session_factory, credit_id).status is CreditStatus.REJECTED
    new = entries_of(session_factory, credit_id)[before:]
    assert "approval.step_rejected" in {e.action for e in new}
    assert {e.channel for e in new if e.actor_id == desk.lead.id} == {"web"}
    home = client_for(desk.agent).get("/").text
    assert "Outage was only two hours." in home


def test_htmx_decides_without_a_reload_and_swaps_in_refusals(
    client_for: ClientFor, desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    credit_id = raise_credit(client_for, desk.agent, desk.outage_case_id, "35.00")
    item_id = pending_item(session_factory, credit_id, desk.lead)
    lead = client_for(desk.lead)
    token = csrf_of(lead.get("/approvals").text)
    headers = {"HX-Request": "true", "X-CSRF-Token": token}
    path = f"/approvals/{item_id}/decide"

    refused = lead.post(path, data={"decision": "reject"}, headers=headers)
    assert refused.status_code == 422
    assert "<html" not in refused.text
    assert "a rejection needs a comment" in refused.text

    done = lead.post(path, data={"decision": "approve"}, headers=headers)
    assert done.status_code == 200
    assert "<html" not in done.text
    assert 'role="status"' in done.text and "the credit is now approved" in done.text
    assert credit_of(session_factory, credit_id).status is CreditStatus.APPROVED


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    client_for: ClientFor, desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    credit_id = raise_credit(client_for, desk.agent, desk.outage_case_id, "35.00")
    item_id = pending_item(session_factory, credit_id, desk.lead)
    lead = client_for(desk.lead)

    for path, data in (
        (f"/approvals/{item_id}/decide", {"decision": "approve"}),
        (f"/approvals/{item_id}/claim", {}),
        (f"/approvals/{item_id}/reassign", {"assignee_id": str(desk.manager.id)}),
        ("/approvals/delegations", {"delegate_id": str(desk.manager.id)}),
    ):
        response = lead.post(path, data=data, follow_redirects=False)
        assert response.status_code == 403, path

    assert credit_of(session_factory, credit_id).status is CreditStatus.PENDING_APPROVAL
    assert item_of(session_factory, item_id).status is WorkItemStatus.PENDING


def test_people_who_do_not_decide_approvals_are_kept_out(
    client_for: ClientFor, desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    credit_id = raise_credit(client_for, desk.agent, desk.outage_case_id, "35.00")
    item_id = pending_item(session_factory, credit_id, desk.lead)

    for person in (desk.junior, desk.outsider, desk.agent):
        browser = client_for(person)
        for path in ("/approvals", f"/approvals/{item_id}", "/approvals/delegations"):
            page = browser.get(path)
            assert page.status_code == 403, (person.role, path)
            assert "35.00" not in page.text
            assert JUSTIFICATION not in page.text


def test_an_approver_whose_role_may_not_see_the_amount_sees_none(
    client_for: ClientFor,
    desk: Desk,
    session_factory: sessionmaker[Session],
    settings: Settings,
    client: TestClient,
    org: Org,
) -> None:
    credit_id = raise_credit(client_for, desk.agent, desk.outage_case_id, "35.00")
    first = pending_item(session_factory, credit_id, desk.lead)
    # The manager takes it and hands it back with a note quoting the amount.
    reassign(session_factory, settings, desk.manager, first, desk.manager)
    manager_item = pending_item(session_factory, credit_id, desk.manager)
    note = "GBP 35.00 agreed on the call"
    reassign(session_factory, settings, desk.manager, manager_item, desk.lead, note)
    item_id = pending_item(session_factory, credit_id, desk.lead)
    lead = client_for(desk.lead)
    assert note in lead.get("/approvals").text

    with (
        field_override(client, org, "team_lead", "amount", "hidden"),
        field_override(client, org, "team_lead", "justification", "hidden"),
    ):
        pages = [lead.get("/approvals").text, lead.get(f"/approvals/{item_id}").text]

    for html in pages:
        assert f'id="item-{item_id}"' in html
        assert "[amount withheld] agreed on the call" in html
        assert "35.00" not in html
        assert "35,00" not in html
        assert JUSTIFICATION not in html


def test_a_credit_someone_else_decided_first_is_a_clear_409(
    client_for: ClientFor,
    desk: Desk,
    session_factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    credit_id = raise_credit(client_for, desk.agent, desk.outage_case_id, "35.00")
    item_id = pending_item(session_factory, credit_id, desk.lead)
    lead = client_for(desk.lead)
    page = lead.get("/approvals").text
    # The manager takes the item over and approves it while the lead reads.
    new = reassign(session_factory, settings, desk.manager, item_id, desk.manager)
    with transaction(session_factory) as session:
        manager = session.get_one(User, desk.manager.id)
        decisions.decide(
            session,
            credit_id=credit_id,
            user=manager,
            approve=True,
            comment=None,
            actor=actor_for(manager, Channel.API),
            now=now(),
            settings=settings,
            item_id=new.id,
        )

    data = {"csrf_token": csrf_of(page), "decision": "approve", "comment": ""}
    late = lead.post(f"/approvals/{item_id}/decide", data=data)

    assert late.status_code == 409
    assert "Someone else acted on this first" in late.text
    assert "is approved, not awaiting approval" in late.text
    headers = {"HX-Request": "true", "X-CSRF-Token": csrf_of(page)}
    fragment = lead.post(f"/approvals/{item_id}/decide", data=data, headers=headers)
    assert fragment.status_code == 409 and "<html" not in fragment.text
    assert "Someone else acted on this first" in fragment.text


def test_the_inbox_costs_the_same_queries_for_many_items_as_for_one(
    client_for: ClientFor, desk: Desk, engine: Engine
) -> None:
    lead = client_for(desk.lead)

    def queries_for(path: str) -> int:
        counted = []

        def count(*_args: object) -> None:
            counted.append(1)

        event.listen(engine, "before_cursor_execute", count)
        try:
            assert lead.get(path).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(counted)

    raise_credit(client_for, desk.agent, desk.outage_case_id, "35.00")
    one = queries_for("/approvals")
    for pence in range(1, 5):
        raise_credit(client_for, desk.agent, desk.outage_case_id, f"35.0{pence}")

    assert "Assigned to you (5)" in lead.get("/approvals").text
    assert queries_for("/approvals") == one


def test_asking_the_agent_returns_the_credit_with_the_question(
    client_for: ClientFor, desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    credit_id = raise_credit(client_for, desk.agent, desk.outage_case_id, "35.00")
    item_id = pending_item(session_factory, credit_id, desk.lead)
    lead = client_for(desk.lead)

    silent = decide(lead, item_id, "request_info", "", back="item")
    assert silent.status_code == 422
    assert "<h1>Approval of" in silent.text
    assert "a request for information needs a comment" in silent.text

    asked = decide(lead, item_id, "request_info", "Which days was it down?")

    assert asked.status_code == 303
    assert credit_of(session_factory, credit_id).status is CreditStatus.DRAFT
    credit_page = client_for(desk.agent).get(f"/credits/{credit_id}").text
    assert "Which days was it down?" in credit_page


def test_a_duty_refusal_is_shown_on_the_page_that_asked(
    client_for: ClientFor, desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    credit_id = raise_credit(client_for, desk.agent, desk.outage_case_id, "35.00")
    item_id = pending_item(session_factory, credit_id, desk.lead)
    manager = client_for(desk.manager)

    page = manager.get(f"/approvals/{item_id}").text
    assert f'action="/approvals/{item_id}/decide"' not in page
    assert f'action="/approvals/{item_id}/reassign"' in page
    refused = decide(manager, item_id, "approve")

    assert refused.status_code == 403
    assert "this approval step is assigned to someone else" in refused.text
    assert credit_of(session_factory, credit_id).status is CreditStatus.PENDING_APPROVAL


def test_a_long_inbox_pages_on_section_by_section(
    client_for: ClientFor,
    desk: Desk,
    session_factory: sessionmaker[Session],
    monkeypatch,
) -> None:
    monkeypatch.setattr(inbox_module, "INBOX_ROWS", 2)
    credits = [
        raise_credit(client_for, desk.agent, desk.outage_case_id, f"35.0{pence}")
        for pence in range(5)
    ]
    items = [pending_item(session_factory, c, desk.lead) for c in credits]
    lead = client_for(desk.lead)

    def shown(html: str) -> list[int]:
        return [i for i in items if f'id="item-{i}"' in html]

    first = lead.get("/approvals").text
    link = re.search(r'href="(/approvals\?mine_after=\d+)">Next 2', first)
    assert shown(first) == items[:2]
    assert "Back to the oldest" not in first
    assert link is not None

    second = lead.get(link.group(1)).text
    on = re.search(r'href="(/approvals\?mine_after=\d+)">Next 2', second)
    assert shown(second) == items[2:4]
    assert "Back to the oldest" in second and on is not None

    last = lead.get(on.group(1)).text
    assert shown(last) == items[4:]
    assert "Next 2" not in last
    assert lead.get("/approvals", params={"mine_after": "x"}).status_code == 400
