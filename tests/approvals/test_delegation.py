"""Out-of-office delegation over the API: who may set it, what it checks, and
where the work goes while it lasts."""

from datetime import datetime, timedelta
from typing import Any

import pytest
from httpx import Response

from creditdesk.approvals.models import WorkItemStatus
from creditdesk.db import transaction
from creditdesk.users.models import Role, User
from tests.approvals.desk import Desk

NEEDS_MANAGER = "35.00"


def _at(moment: datetime) -> str:
    return moment.isoformat()


def _delegate(
    desk: Desk,
    who: str,
    delegate: User,
    *,
    starts: timedelta = timedelta(hours=-1),
    ends: timedelta = timedelta(days=3),
    **extra: Any,
) -> Response:
    now = desk.clock()
    body = {
        "delegate_id": delegate.id,
        "starts_at": _at(now + starts),
        "ends_at": _at(now + ends),
        **extra,
    }
    return desk.client.post(
        "/api/v1/delegations", json=body, headers=desk.org.auth(who)
    )


@pytest.fixture
def cover(desk: Desk) -> User:
    """Another team lead under the same manager, who stands in for the lead."""
    return desk.add_user(role=Role.TEAM_LEAD, manager=desk.org.manager)


def _approve(desk: Desk, credit_id: int, who: str) -> Response:
    return desk.client.post(
        f"/api/v1/credits/{credit_id}/approve", headers=desk.org.auth(who)
    )


def test_a_delegate_receives_and_decides_new_work(desk: Desk, cover: User) -> None:
    made = _delegate(desk, "lead", cover, reason="Annual leave")
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["user_id"] == desk.org.lead.id
    assert body["delegate_id"] == cover.id
    assert body["created_by_id"] == desk.org.lead.id

    credit = desk.raise_credit(NEEDS_MANAGER)

    [item] = desk.items(credit["id"])
    assert item.assignee_id == cover.id
    assert item.original_assignee_id == desk.org.lead.id
    assert item.origin == "delegation"
    approved = _approve(desk, credit["id"], cover.username)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"

    listed = desk.client.get("/api/v1/delegations", headers=desk.org.auth("lead"))
    assert [d["id"] for d in listed.json()["items"]] == [body["id"]]
    [entry] = desk.audit("delegation", body["id"], "delegation.created")
    assert entry.actor_id == desk.org.lead.id
    assert entry.reason == "Annual leave"


def test_a_period_in_the_future_leaves_the_work_with_the_manager(
    desk: Desk, cover: User
) -> None:
    made = _delegate(desk, "lead", cover, starts=timedelta(days=1))
    assert made.status_code == 201, made.text

    credit = desk.raise_credit(NEEDS_MANAGER)

    [item] = desk.items(credit["id"])
    assert item.assignee_id == desk.org.lead.id
    assert item.origin == "policy"


def test_overlapping_periods_of_one_user_conflict(desk: Desk, cover: User) -> None:
    first = _delegate(desk, "lead", cover, starts=timedelta(days=1))
    other = desk.add_user(role=Role.TEAM_LEAD, manager=desk.org.manager)

    clash = _delegate(desk, "lead", other, starts=timedelta(days=2))

    assert clash.status_code == 409
    assert clash.headers["content-type"] == "application/problem+json"
    assert clash.json()["delegation_id"] == first.json()["id"]
    assert str(first.json()["id"]) in clash.json()["detail"]
    after = _delegate(
        desk, "lead", other, starts=timedelta(days=3, hours=1), ends=timedelta(days=5)
    )
    assert after.status_code == 201, after.text


def _inactive_lead(desk: Desk) -> User:
    user = desk.add_user(role=Role.TEAM_LEAD)
    with transaction(desk.factory) as session:
        session.get_one(User, user.id).is_active = False
    return user


@pytest.mark.parametrize(
    ("case", "field"),
    [
        ("ends_before_start", "ends_at"),
        ("already_ended", "ends_at"),
        ("self", "delegate_id"),
        ("inactive", "delegate_id"),
        ("not_an_approver", "delegate_id"),
        ("unknown_delegate", "delegate_id"),
        ("naive_time", "starts_at"),
    ],
)
def test_an_invalid_delegation_is_refused_naming_the_field(
    desk: Desk, cover: User, case: str, field: str
) -> None:
    org = desk.org
    if case == "ends_before_start":
        response = _delegate(
            desk, "lead", cover, starts=timedelta(days=2), ends=timedelta(days=1)
        )
    elif case == "already_ended":
        response = _delegate(
            desk, "lead", cover, starts=timedelta(days=-2), ends=timedelta(days=-1)
        )
    elif case == "self":
        response = _delegate(desk, "lead", org.lead)
    elif case == "inactive":
        response = _delegate(desk, "lead", _inactive_lead(desk))
    elif case == "not_an_approver":
        response = _delegate(desk, "lead", org.agent)
    elif case == "unknown_delegate":
        response = desk.client.post(
            "/api/v1/delegations",
            json={
                "delegate_id": 10**9,
                "starts_at": _at(desk.clock()),
                "ends_at": _at(desk.clock() + timedelta(days=1)),
            },
            headers=org.auth("lead"),
        )
    else:
        response = desk.client.post(
            "/api/v1/delegations",
            json={
                "delegate_id": cover.id,
                "starts_at": "2023-01-09T09:00:00",
                "ends_at": _at(desk.clock() + timedelta(days=1)),
            },
            headers=org.auth("lead"),
        )

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == field


def test_a_period_that_has_begun_moves_the_open_items(desk: Desk, cover: User) -> None:
    credit = desk.raise_credit(NEEDS_MANAGER)
    [waiting] = desk.items(credit["id"])
    assert waiting.assignee_id == desk.org.lead.id

    desk.clock.advance(timedelta(minutes=5))
    assert _delegate(desk, "lead", cover).status_code == 201

    old, new = desk.items(credit["id"])
    assert old.status is WorkItemStatus.REASSIGNED
    assert new.status is WorkItemStatus.PENDING
    assert new.assignee_id == cover.id
    assert new.original_assignee_id == desk.org.lead.id
    assert new.origin == "delegation"
    assert new.due_at is not None
    assert _approve(desk, credit["id"], "lead").status_code == 403
    assert _approve(desk, credit["id"], cover.username).status_code == 200


def _line(desk: Desk) -> tuple[User, User, User]:
    """A senior manager, a manager under them who raises a credit, and a team
    lead reporting to that requester."""
    senior = desk.add_user(role=Role.MANAGER)
    requester = desk.add_user(role=Role.MANAGER, manager=senior)
    below = desk.add_user(role=Role.TEAM_LEAD, manager=requester)
    return senior, requester, below


def _raise_as(desk: Desk, user: User) -> dict[str, Any]:
    # Desk.raise_credit takes an Org attribute; these users live in tokens.
    setattr(desk.org, user.username, user)
    return desk.raise_credit(NEEDS_MANAGER, who=user.username)


# The requester is refused by the duties; someone below them may not even
# see the credit.
@pytest.mark.parametrize(
    ("delegate_is", "refusal"), [("requester", 403), ("below_requester", 404)]
)
def test_a_delegate_who_would_break_the_duties_is_passed_over(
    desk: Desk, delegate_is: str, refusal: int
) -> None:
    senior, requester, below = _line(desk)
    delegate = requester if delegate_is == "requester" else below
    made = _delegate(desk, senior.username, delegate)
    assert made.status_code == 201, made.text

    credit = _raise_as(desk, requester)

    [item] = desk.items(credit["id"])
    assert item.assignee_id == senior.id
    assert item.origin == "policy"
    refused = _approve(desk, credit["id"], delegate.username)
    assert refused.status_code == refusal


def test_open_items_stay_when_the_delegate_may_not_decide_them(
    desk: Desk,
) -> None:
    senior, requester, below = _line(desk)
    credit = _raise_as(desk, requester)

    assert _delegate(desk, senior.username, below).status_code == 201

    [item] = desk.items(credit["id"])
    assert item.status is WorkItemStatus.PENDING
    assert item.assignee_id == senior.id


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("lead", 201),
        ("manager", 201),
        ("admin", 201),
        ("agent", 403),
        ("finance", 403),
        ("auditor", 403),
    ],
)
def test_who_may_set_a_delegation_for_the_lead(
    desk: Desk, cover: User, who: str, status: int
) -> None:
    response = _delegate(desk, who, cover, user_id=desk.org.lead.id)

    assert response.status_code == status, response.text
    if status == 201:
        assert response.json()["user_id"] == desk.org.lead.id
        assert response.json()["created_by_id"] == getattr(desk.org, who).id
    else:
        assert response.headers["content-type"] == "application/problem+json"


def test_an_auditor_may_not_set_their_own_delegation(desk: Desk) -> None:
    other = desk.add_user(role=Role.AUDITOR)
    response = _delegate(desk, "auditor", other)

    assert response.status_code == 403


def test_revoking_ends_the_delegation(desk: Desk, cover: User) -> None:
    made = _delegate(desk, "lead", cover).json()
    during = desk.raise_credit(NEEDS_MANAGER)
    desk.clock.advance(timedelta(hours=1))

    revoked = desk.client.delete(
        f"/api/v1/delegations/{made['id']}", headers=desk.org.auth("lead")
    )

    assert revoked.status_code == 200, revoked.text
    assert datetime.fromisoformat(revoked.json()["revoked_at"]) == desk.clock()
    after = desk.raise_credit(NEEDS_MANAGER)
    [item] = desk.items(after["id"])
    assert item.assignee_id == desk.org.lead.id
    assert item.origin == "policy"
    # Work moved while it lasted stays with the delegate.
    assert desk.items(during["id"])[0].assignee_id == cover.id

    [entry] = desk.audit("delegation", made["id"], "delegation.revoked")
    assert entry.actor_id == desk.org.lead.id
    again = _delegate(desk, "lead", cover)
    assert again.status_code == 201, again.text


def test_only_those_who_may_manage_it_revoke_a_delegation(
    desk: Desk, cover: User
) -> None:
    made = _delegate(desk, "lead", cover).json()
    path = f"/api/v1/delegations/{made['id']}"

    assert desk.client.delete(path, headers=desk.org.auth("agent")).status_code == 404
    auditor = desk.client.delete(path, headers=desk.org.auth("auditor"))
    assert auditor.status_code == 403
    assert desk.client.delete(path, headers=desk.org.auth("manager")).status_code == 200
