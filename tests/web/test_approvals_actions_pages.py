"""Claiming from a queue, reassigning, an item's own page, and out-of-office
delegation from the approvals pages."""

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.approvals.models import Delegation, WorkItemStatus
from creditdesk.audit.models import AuditEntry
from creditdesk.db import transaction
from creditdesk.users.models import Role, User
from tests.factories import make_account, make_case, make_contract, make_team, now
from tests.web.approvals_support import (
    card_of,
    item_of,
    pending_item,
    post_form,
    raise_credit,
)
from tests.web.conftest import ClientFor
from tests.web.support import Desk, Person, make_person, person_for

DELEGATIONS = "/approvals/delegations"


def _agent_without_manager(factory: sessionmaker[Session]) -> tuple[Person, int]:
    """An agent nobody manages, and a case of theirs: their approvals fall
    back to the manager queue."""
    with transaction(factory) as session:
        team = make_team(session)
        agent = User(
            username=f"lonely-{team.id}",
            display_name=f"Lonely Agent {team.id}",
            role=Role.AGENT,
            team_id=team.id,
            created_at=now(),
        )
        session.add(agent)
        account = make_account(session)
        make_contract(session, account=account, cap_minor=30_000)
        session.flush()
        case = make_case(session, account=account, owner=agent, subject="Outage")
        case_id = case.id
    return person_for(factory, agent), case_id


def test_an_item_is_claimed_from_the_queue_and_a_late_claim_is_a_409(
    client_for: ClientFor, desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    other = make_person(session_factory, role=Role.MANAGER)
    agent, case_id = _agent_without_manager(session_factory)
    credit_id = raise_credit(client_for, agent, case_id, "35.00")
    mine = pending_item(session_factory, credit_id, desk.manager)
    theirs = pending_item(session_factory, credit_id, other)
    manager = client_for(desk.manager)

    inbox = manager.get("/approvals").text
    queue = inbox.split('id="queue-heading"')[1]
    card = card_of(queue, mine)
    assert "open to the manager queue" in card
    assert f'action="/approvals/{mine}/claim"' in card

    claimed = post_form(manager, "/approvals", f"/approvals/{mine}/claim", {})

    assert claimed.status_code == 303
    assert claimed.headers["location"] == f"/approvals/{mine}"
    item = item_of(session_factory, mine)
    assert item.claimed_at is not None and item.assignee_id == desk.manager.id
    assert item_of(session_factory, theirs).status is WorkItemStatus.NO_RESPONSE
    after = manager.get("/approvals").text
    assert f'id="item-{mine}"' in after.split('id="queue-heading"')[0]

    late = post_form(client_for(other), "/approvals", f"/approvals/{theirs}/claim", {})
    assert late.status_code == 409
    assert "That item could not be claimed" in late.text
    assert "already no_response" in late.text


def test_the_lead_reassigns_an_item_to_someone_who_may_decide_it(
    client_for: ClientFor, desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    credit_id = raise_credit(client_for, desk.agent, desk.outage_case_id, "35.00")
    item_id = pending_item(session_factory, credit_id, desk.lead)
    lead = client_for(desk.lead)
    page = f"/approvals/{item_id}"

    html = lead.get(page).text
    assert f'<option value="{desk.manager.id}">' in html
    assert f'<option value="{desk.agent.id}">' not in html

    to_agent = post_form(
        lead, page, f"{page}/reassign", {"assignee_id": str(desk.agent.id)}
    )
    assert to_agent.status_code == 403
    assert f"{desk.agent.username} may not decide this credit" in to_agent.text
    nobody = post_form(lead, page, f"{page}/reassign", {"assignee_id": ""})
    assert nobody.status_code == 422
    assert 'id="assignee_id-error">choose who takes the item over' in nobody.text
    assert item_of(session_factory, item_id).status is WorkItemStatus.PENDING

    moved = post_form(
        lead,
        page,
        f"{page}/reassign",
        {"assignee_id": str(desk.manager.id), "comment": "Over to you."},
    )

    assert moved.status_code == 303
    assert item_of(session_factory, item_id).status is WorkItemStatus.REASSIGNED
    new_id = pending_item(session_factory, credit_id, desk.manager)
    card = card_of(client_for(desk.manager).get("/approvals").text, new_id)
    assert "Over to you." in card
    assert f'id="item-{item_id}"' not in lead.get("/approvals").text
    # The lead may still read the old item's page, with nothing left to do.
    old = lead.get(page).text
    assert "This item is reassigned" in old and "/decide" not in old


def test_a_requester_never_sees_the_approval_of_their_own_credit(
    client_for: ClientFor, desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    credit_id = raise_credit(client_for, desk.lead, desk.outage_case_id, "35.00")
    item_id = pending_item(session_factory, credit_id, desk.manager)
    lead = client_for(desk.lead)

    assert lead.get(f"/approvals/{item_id}").status_code == 404
    refused = post_form(lead, "/approvals", f"/approvals/{item_id}/decide", {})
    assert refused.status_code == 404
    assert f'id="item-{item_id}"' not in lead.get("/approvals").text
    assert item_of(session_factory, item_id).status is WorkItemStatus.PENDING


def _delegations_of(factory: sessionmaker[Session], person: Person) -> list[Delegation]:
    with factory() as session:
        return list(
            session.scalars(
                sa.select(Delegation)
                .where(Delegation.user_id == person.id)
                .order_by(Delegation.id)
            )
        )


def test_a_delegation_is_created_refused_when_it_overlaps_and_cancelled(
    client_for: ClientFor, desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    lead = client_for(desk.lead)
    tomorrow = now().date() + timedelta(days=1)
    form = {
        "delegate_id": str(desk.manager.id),
        "starts_at": tomorrow.isoformat(),
        "ends_at": (tomorrow + timedelta(days=2)).isoformat(),
        "reason": "Annual leave",
    }

    created = post_form(lead, DELEGATIONS, DELEGATIONS, form)

    assert created.status_code == 303
    (delegation,) = _delegations_of(session_factory, desk.lead)
    assert delegation.delegate_id == desk.manager.id
    assert delegation.starts_at.date() == tomorrow
    assert delegation.ends_at - delegation.starts_at == timedelta(days=3)
    listed = lead.get(DELEGATIONS).text
    assert f"Delegation {delegation.id} saved" in listed
    assert "Upcoming" in listed and "Annual leave" in listed

    overlap = form | {"starts_at": (tomorrow + timedelta(days=1)).isoformat()}
    refused = post_form(lead, DELEGATIONS, DELEGATIONS, overlap)
    assert refused.status_code == 409
    assert f"overlaps delegation {delegation.id}" in refused.text
    assert 'id="delegation-error"' in refused.text
    assert 'value="Annual leave"' in refused.text
    bad_date = post_form(lead, DELEGATIONS, DELEGATIONS, form | {"starts_at": "soon"})
    assert bad_date.status_code == 422
    assert 'id="starts_at-error">enter the first day away as a date' in bad_date.text
    assert len(_delegations_of(session_factory, desk.lead)) == 1

    path = f"{DELEGATIONS}/{delegation.id}/cancel"
    cancelled = post_form(lead, DELEGATIONS, path, {})

    assert cancelled.status_code == 303
    (delegation,) = _delegations_of(session_factory, desk.lead)
    assert delegation.revoked_at is not None
    assert "Cancelled" in lead.get(DELEGATIONS).text
    with session_factory() as session:
        channels = session.scalars(
            sa.select(AuditEntry.channel).where(
                AuditEntry.entity_type == "delegation",
                AuditEntry.entity_id == str(delegation.id),
            )
        ).all()
    assert channels == ["web", "web"]


def test_a_delegation_that_has_begun_moves_waiting_approvals(
    client_for: ClientFor, desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    credit_id = raise_credit(client_for, desk.agent, desk.outage_case_id, "35.00")
    item_id = pending_item(session_factory, credit_id, desk.lead)
    today = now().date()
    form = {
        "delegate_id": str(desk.manager.id),
        "starts_at": today.isoformat(),
        "ends_at": today.isoformat(),
        "reason": "",
    }

    created = post_form(client_for(desk.lead), DELEGATIONS, DELEGATIONS, form)

    assert created.status_code == 303
    assert item_of(session_factory, item_id).status is WorkItemStatus.REASSIGNED
    moved = pending_item(session_factory, credit_id, desk.manager)
    card = card_of(client_for(desk.manager).get("/approvals").text, moved)
    assert f"{desk.lead.display_name} (delegation)" in card


def test_a_delegation_form_refuses_what_the_api_refuses_without_a_500(
    client_for: ClientFor, desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    lead = client_for(desk.lead)
    tomorrow = now().date() + timedelta(days=1)
    form = {
        "delegate_id": str(desk.manager.id),
        "starts_at": tomorrow.isoformat(),
        "ends_at": tomorrow.isoformat(),
        "reason": "Annual leave",
    }

    superscript = post_form(lead, DELEGATIONS, DELEGATIONS, form | {"delegate_id": "²"})
    too_long = post_form(lead, DELEGATIONS, DELEGATIONS, form | {"reason": "x" * 501})
    control = post_form(lead, DELEGATIONS, DELEGATIONS, form | {"reason": "a\x07b"})

    assert superscript.status_code == 422
    assert 'id="delegate_id-error"' in superscript.text
    assert too_long.status_code == 422
    assert 'id="reason-error"' in too_long.text
    assert control.status_code == 422
    assert _delegations_of(session_factory, desk.lead) == []
