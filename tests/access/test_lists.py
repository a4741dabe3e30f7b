"""Lists hold exactly the visible rows, page after page."""

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.access.visibility import line_below
from creditdesk.users.models import Role, User
from tests.access.support import (
    AccessOrg,
    add_person,
    listed_ids,
    make_credit,
    new_team,
    share,
)
from tests.api_helpers import credit_body


def walk(client: TestClient, path: str, headers: dict[str, str]) -> list[int]:
    ids: list[int] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get(path, params=params, headers=headers).json()
        assert len(page["items"]) <= 2
        ids += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


def test_pages_of_two_hold_only_visible_rows_in_order(
    client: TestClient, session_factory: sessionmaker[Session], people: AccessOrg
) -> None:
    pager = add_person(
        session_factory, people, "pager", Role.AGENT, team=new_team(session_factory)
    )
    other = add_person(
        session_factory, people, "other", Role.AGENT, team=new_team(session_factory)
    )
    own, others = [], []
    for _ in range(5):
        own.append(make_credit(session_factory, pager))
        others.append(make_credit(session_factory, other))
    for made in others[1:3]:
        share(session_factory, made.credit_id, owner=other, grantee=pager)
    share(session_factory, others[3].credit_id, owner=other, grantee=pager, revoke=True)

    visible = own + others[1:3]
    credits = walk(client, "/api/v1/credits", people.auth("pager"))
    assert credits == sorted((m.credit_id for m in visible), reverse=True)
    cases = walk(client, "/api/v1/cases", people.auth("pager"))
    assert cases == sorted((m.case_id for m in visible), reverse=True)
    assert listed_ids(client, "/api/v1/credits", people.auth("pager")) == credits


def test_finance_lists_everything_an_agent_cannot(
    client: TestClient, session_factory: sessionmaker[Session], people: AccessOrg
) -> None:
    made = make_credit(session_factory, people.users["b_agent"])

    def listed(who: str) -> bool:
        page = client.get(
            "/api/v1/credits",
            params={"case_id": made.case_id},
            headers=people.auth(who),
        )
        return made.credit_id in [item["id"] for item in page.json()["items"]]

    assert [listed(who) for who in ("finance", "auditor", "admin")] == [True] * 3
    assert [listed(who) for who in ("agent", "lead", "manager")] == [False] * 3
    assert listed("b_lead")


def test_raising_on_an_invisible_case_reads_as_an_unknown_case(
    client: TestClient, session_factory: sessionmaker[Session], people: AccessOrg
) -> None:
    hidden = make_credit(session_factory, people.users["b_agent"])
    headers = people.auth("agent")

    answer = client.post(
        "/api/v1/credits", json=credit_body(hidden.case_id, "5.00"), headers=headers
    )
    unknown = client.post(
        "/api/v1/credits", json=credit_body(2**40, "5.00"), headers=headers
    )

    assert answer.status_code == unknown.status_code == 422
    assert answer.json()["field"] == unknown.json()["field"] == "case_id"
    assert answer.json()["detail"] == f"case {hidden.case_id} does not exist"
    assert unknown.json()["detail"] == f"case {2**40} does not exist"


def test_an_invisible_credit_reads_as_a_missing_one(
    client: TestClient, session_factory: sessionmaker[Session], people: AccessOrg
) -> None:
    hidden = make_credit(session_factory, people.users["b_agent"])
    headers = people.auth("agent")

    seen = client.get(f"/api/v1/credits/{hidden.credit_id}", headers=headers)
    missing = client.get(f"/api/v1/credits/{2**40}", headers=headers)

    assert seen.status_code == missing.status_code == 404
    assert seen.json()["detail"] == f"credit {hidden.credit_id} does not exist"
    assert seen.json()["type"] == missing.json()["type"]


def test_a_queue_approver_sees_the_credit_from_their_step_on(
    client: TestClient, session_factory: sessionmaker[Session], people: AccessOrg
) -> None:
    # 2,000.00 goes to b_lead, then (b_lead having no manager) to the manager
    # queue, then to finance.
    made = make_credit(
        session_factory, people.users["b_agent"], "2000.00", cap_minor=10**7
    )
    url = f"/api/v1/credits/{made.credit_id}"
    add_person(session_factory, people, "queue_manager", Role.MANAGER)
    manager = people.auth("queue_manager")

    assert client.get(url, headers=manager).status_code == 404
    step_one = client.post(f"{url}/approve", headers=people.auth("b_lead"))
    assert step_one.status_code == 200, step_one.text

    assert client.get(url, headers=manager).status_code == 200
    assert client.post(f"{url}/approve", headers=manager).status_code == 200
    finance = client.post(f"{url}/approve", headers=people.auth("finance"))
    assert finance.json()["status"] == "approved"
    assert client.get(url, headers=manager).status_code == 200


def test_a_long_reporting_line_gives_the_same_rows_as_a_short_one(
    session_factory: sessionmaker[Session], people: AccessOrg
) -> None:
    with session_factory() as session:
        director = session.get(User, people.id("director"))
        assert director is not None
        inline = line_below(session, director)
        as_query = line_below(session, director, inline_max=0)

        assert isinstance(inline, list)
        rows = session.scalars(sa.select(User.id).where(User.id.in_(as_query)))
        assert sorted(rows) == sorted(inline)
        everyone_in_team_a = {"director", "manager", "manager_peer", "lead"}
        everyone_in_team_a |= {"lead_peer", "agent", "agent_peer", "junior"}
        assert set(inline) == {people.id(key) for key in everyone_in_team_a}
