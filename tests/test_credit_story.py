"""The core story through the API: raise, judge, approve, post, apply, resolve."""

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.audit.service import verify
from creditdesk.billing.ledger import account_balance
from creditdesk.config import Settings
from tests.api_helpers import drain_outbox, raise_credit
from tests.factories import Org, make_customer


def test_ten_pounds_is_approved_posted_applied_and_resolves_the_case(
    client: TestClient,
    org: Org,
    session_factory: sessionmaker[Session],
    settings: Settings,
    engine,
) -> None:
    customer = make_customer(session_factory, owner=org.agent, disputed_minor=1000)

    credit = raise_credit(client, org.auth("agent"), customer.case.id, "10.00")

    assert credit["status"] == "approved"
    assert credit["number"] == f"BC-{credit['id']:06d}"
    assert credit["decision"]["outcome"] == "approved"
    assert credit["decision"]["policy_version"] >= 1
    assert [r["id"] for r in credit["decision"]["rules"]] == [
        "amount.within_auto_limit"
    ]

    assert drain_outbox(session_factory, settings) >= 1

    posted = client.get(f"/api/v1/credits/{credit['id']}", headers=org.auth("agent"))
    assert posted.json()["status"] == "applied"
    assert posted.json()["external_ref"].startswith("LM-")
    case = client.get(f"/api/v1/cases/{customer.case.id}", headers=org.auth("agent"))
    assert case.json()["status"] == "resolved"
    with session_factory() as session:
        assert account_balance(session, customer.account.id) == -1000
    assert verify(engine).ok


def test_thirty_five_pounds_waits_for_the_agents_manager(
    client: TestClient,
    org: Org,
    session_factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    customer = make_customer(session_factory, owner=org.agent)

    credit = raise_credit(client, org.auth("agent"), customer.case.id, "35.00")
    assert credit["status"] == "pending_approval"
    assert credit["decision"]["steps"] == ["manager"]
    assert "amount.over_auto_limit" in [r["id"] for r in credit["decision"]["rules"]]

    inbox = client.get("/api/v1/approvals", headers=org.auth("lead")).json()["items"]
    assert credit["id"] in [item["credit"]["id"] for item in inbox]
    assert drain_outbox(session_factory, settings) == 0

    approved = client.post(
        f"/api/v1/credits/{credit['id']}/approve",
        json={"comment": "Verified on the invoice"},
        headers=org.auth("lead"),
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"

    drain_outbox(session_factory, settings)
    final = client.get(f"/api/v1/credits/{credit['id']}", headers=org.auth("lead"))
    assert final.json()["status"] == "applied"

    history = client.get(
        f"/api/v1/credits/{credit['id']}/history", headers=org.auth("lead")
    ).json()
    actions = [e["action"] for e in history["entries"]]
    assert actions[0] == "credit.requested"
    for action in (
        "credit.approval_requested",
        "approval.step_approved",
        "credit.approved",
        "credit.posted",
        "credit.applied",
    ):
        assert action in actions
    assert history["steps"][0]["acting_approver_id"] == org.lead.id
    assert history["steps"][0]["status"] == "approved"


def test_larger_credit_needs_manager_then_finance(
    client: TestClient, org: Org, session_factory: sessionmaker[Session]
) -> None:
    customer = make_customer(session_factory, owner=org.agent)
    credit = raise_credit(client, org.auth("agent"), customer.case.id, "400.00")
    assert credit["decision"]["steps"] == ["manager", "queue:finance"]

    early = client.post(
        f"/api/v1/credits/{credit['id']}/approve", headers=org.auth("finance")
    )
    assert early.status_code == 403

    first = client.post(
        f"/api/v1/credits/{credit['id']}/approve", headers=org.auth("lead")
    )
    assert first.json()["status"] == "pending_approval"

    second = client.post(
        f"/api/v1/credits/{credit['id']}/approve", headers=org.auth("finance")
    )
    assert second.json()["status"] == "approved"

    late = client.post(
        f"/api/v1/credits/{credit['id']}/approve", headers=org.auth("finance_2")
    )
    assert late.status_code == 409
    assert late.headers["content-type"] == "application/problem+json"


def test_nobody_approves_their_own_credit(
    client: TestClient, org: Org, session_factory: sessionmaker[Session]
) -> None:
    customer = make_customer(session_factory, owner=org.lead)
    credit = raise_credit(client, org.auth("lead"), customer.case.id, "35.00")

    own = client.post(
        f"/api/v1/credits/{credit['id']}/approve", headers=org.auth("lead")
    )
    assert own.status_code == 403
    manager = client.post(
        f"/api/v1/credits/{credit['id']}/approve", headers=org.auth("manager")
    )
    assert manager.status_code == 200


def test_rejection_needs_a_comment_and_keeps_the_case_open(
    client: TestClient, org: Org, session_factory: sessionmaker[Session]
) -> None:
    customer = make_customer(session_factory, owner=org.agent)
    credit = raise_credit(client, org.auth("agent"), customer.case.id, "35.00")
    url = f"/api/v1/credits/{credit['id']}/reject"

    silent = client.post(url, json={}, headers=org.auth("lead"))
    assert silent.status_code == 422
    assert silent.json()["field"] == "comment"

    rejected = client.post(
        url, json={"comment": "Already refunded last month"}, headers=org.auth("lead")
    )
    assert rejected.json()["status"] == "rejected"
    case = client.get(f"/api/v1/cases/{customer.case.id}", headers=org.auth("agent"))
    assert case.json()["status"] == "open"


def test_the_requester_recalls_a_pending_credit(
    client: TestClient, org: Org, session_factory: sessionmaker[Session]
) -> None:
    customer = make_customer(session_factory, owner=org.agent)
    credit = raise_credit(client, org.auth("agent"), customer.case.id, "35.00")
    url = f"/api/v1/credits/{credit['id']}/recall"

    assert client.post(url, headers=org.auth("lead")).status_code == 403
    recalled = client.post(url, headers=org.auth("agent"))
    assert recalled.json()["status"] == "recalled"
    assert client.post(url, headers=org.auth("agent")).status_code == 409
    inbox = client.get("/api/v1/approvals", headers=org.auth("lead")).json()["items"]
    assert credit["id"] not in [item["credit"]["id"] for item in inbox]


def test_a_refusal_is_recorded_with_the_rule_that_refused_it(
    client: TestClient, org: Org, session_factory: sessionmaker[Session]
) -> None:
    customer = make_customer(session_factory, owner=org.agent, product="mobile")
    with session_factory() as session:
        from creditdesk.cases.models import Case

        case = session.get(Case, customer.case.id)
        assert case is not None
        case.product = "broadband"
        session.commit()

    credit = raise_credit(client, org.auth("agent"), customer.case.id, "5.00")

    assert credit["status"] == "refused"
    rules = {r["id"]: r["message"] for r in credit["decision"]["rules"]}
    assert "contract.missing" in rules
    assert "broadband" in rules["contract.missing"]


def test_credits_list_pages_with_a_cursor(
    client: TestClient, org: Org, session_factory: sessionmaker[Session]
) -> None:
    customer = make_customer(session_factory, owner=org.agent)
    ids = [
        raise_credit(client, org.auth("agent"), customer.case.id, f"{n}.00")["id"]
        for n in (1, 2, 3)
    ]
    seen: list[int] = []
    cursor = None
    while True:
        params = {"case_id": customer.case.id, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/credits", params=params, headers=org.auth("agent"))
        seen += [c["id"] for c in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(ids, reverse=True)


def test_health_endpoints(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_requests_without_a_valid_token_are_401_problems(client: TestClient) -> None:
    missing = client.get("/api/v1/credits")
    wrong = client.get("/api/v1/credits", headers={"Authorization": "Bearer nope"})
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == "Bearer"
