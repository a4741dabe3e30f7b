"""GET /credits: sort orders with keyset cursors, filters and sparse fieldsets,
and refusals when any of them names a field hidden from the caller."""

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.actors import Actor, Channel
from creditdesk.config import Settings
from creditdesk.credits import service
from creditdesk.credits.schemas import CreditIn
from creditdesk.db import transaction
from tests.api_helpers import JUSTIFICATION
from tests.factories import Org, make_customer

CREDITS = "/api/v1/credits"
T0 = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)

# (amount, minutes after T0): equal amounts and equal times on purpose, so
# the id must break ties for the cursor to be right.
ROWS = [
    ("5.00", 0),
    ("12.50", 0),
    ("5.00", 3),
    ("7.25", 1),
    ("12.50", 2),
    ("1.99", 3),
    ("7.25", 0),
]


@pytest.fixture(scope="module")
def sample(session_factory: sessionmaker[Session], org: Org) -> dict[str, object]:
    """Seven credits on one account, raised by the agent at chosen times on a
    case the junior agent owns (so both may list them)."""
    customer = make_customer(session_factory, owner=org.junior, cap_minor=10**9)
    actor = Actor(org.agent.id, org.agent.username, Channel.API, org.agent.role)
    made = []
    with transaction(session_factory) as session:
        for amount, minutes in ROWS:
            data = CreditIn(
                case_id=customer.case.id,
                amount=amount,
                currency="GBP",
                type="goodwill",
                reason="goodwill",
                justification=JUSTIFICATION,
            )
            credit = service.raise_credit(
                session,
                data=data,
                requester=org.agent,
                actor=actor,
                now=T0 + timedelta(minutes=minutes),
                settings=Settings(),
            )
            made.append((credit.id, credit.amount_minor, credit.created_at))
    return {"account_id": customer.account.id, "rows": made}


def _expected(rows: list[tuple[int, int, datetime]], sort: str | None) -> list[int]:
    if sort is None:
        return sorted((r[0] for r in rows), reverse=True)
    key = 1 if sort.lstrip("-") == "amount" else 2
    ordered = sorted(rows, key=lambda r: (r[key], r[0]), reverse=sort.startswith("-"))
    return [r[0] for r in ordered]


def _all_pages(
    client: TestClient, org: Org, params: dict[str, object], who: str = "agent"
) -> list[int]:
    ids: list[int] = []
    cursor = None
    for _ in range(20):
        page = client.get(
            CREDITS, params={**params, "cursor": cursor}, headers=org.auth(who)
        )
        assert page.status_code == 200, page.text
        ids += [row["id"] for row in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return ids
    raise AssertionError("the cursor never ran out")


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    sort=st.sampled_from([None, "created_at", "-created_at", "amount", "-amount"]),
    limit=st.integers(min_value=1, max_value=8),
)
def test_every_sort_pages_through_each_credit_once_in_order(
    client: TestClient,
    org: Org,
    sample: dict[str, object],
    sort: str | None,
    limit: int,
) -> None:
    params: dict[str, object] = {"account_id": sample["account_id"], "limit": limit}
    if sort:
        params["sort"] = sort

    assert _all_pages(client, org, params) == _expected(sample["rows"], sort)


def test_a_cursor_from_one_sort_is_refused_under_another(
    client: TestClient, org: Org, sample: dict[str, object]
) -> None:
    base = {"account_id": sample["account_id"], "limit": 2}
    first = client.get(
        CREDITS, params={**base, "sort": "amount"}, headers=org.auth("agent")
    )
    cursor = first.json()["next_cursor"]

    for other in ("-amount", "created_at", None):
        params = {**base, "cursor": cursor, **({"sort": other} if other else {})}
        response = client.get(CREDITS, params=params, headers=org.auth("agent"))
        assert response.status_code == 422
        assert response.json()["field"] == "cursor"


@pytest.mark.parametrize(
    ("params", "amounts"),
    [
        ({"amount_min": "7.25", "currency": "GBP"}, {725, 1250}),
        ({"amount_max": "5", "currency": "GBP"}, {199, 500}),
        ({"amount_min": "5.00", "amount_max": "7.25", "currency": "GBP"}, {500, 725}),
        ({"amount_min": "0.01", "currency": "EUR"}, set()),
        ({"type": "goodwill", "reason": "goodwill"}, {199, 500, 725, 1250}),
        ({"type": "dispute"}, set()),
        ({"reason": "overcharge"}, set()),
    ],
)
def test_filters(
    client: TestClient,
    org: Org,
    sample: dict[str, object],
    params: dict[str, str],
    amounts: set[int],
) -> None:
    response = client.get(
        CREDITS,
        params={**params, "account_id": sample["account_id"], "fields": "amount"},
        headers=org.auth("finance"),
    )
    assert response.status_code == 200, response.text
    shown = {int(row["amount"].replace(".", "")) for row in response.json()["items"]}
    assert shown == amounts


@pytest.mark.parametrize(
    ("params", "field", "status"),
    [
        ({"amount_min": "1.00"}, "currency", 422),
        ({"amount_min": "1.001", "currency": "GBP"}, "amount_min", 422),
        ({"amount_max": "-1", "currency": "GBP"}, "amount_max", 422),
        ({"fields": "amount,bogus"}, "fields", 422),
        ({"fields": ","}, "fields", 422),
        ({"cursor": "not-a-cursor", "sort": "amount"}, "cursor", 422),
        ({"sort": "updated_at"}, "sort", 422),
    ],
)
def test_bad_query_parameters_name_the_parameter(
    client: TestClient, org: Org, params: dict[str, str], field: str, status: int
) -> None:
    response = client.get(CREDITS, params=params, headers=org.auth("agent"))
    assert response.status_code == status, response.text
    assert response.json()["field"] == field


def test_a_sparse_fieldset_returns_only_those_fields_and_the_id(
    client: TestClient, org: Org, sample: dict[str, object]
) -> None:
    response = client.get(
        CREDITS,
        params={"account_id": sample["account_id"], "fields": "amount, status"},
        headers=org.auth("agent"),
    )
    assert response.status_code == 200
    for row in response.json()["items"]:
        assert set(row) == {"id", "amount", "status"}


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"sort": "-amount"}, "sort"),
        ({"sort": "amount"}, "sort"),
        ({"amount_min": "1.00", "currency": "GBP"}, "amount_min"),
        ({"amount_max": "1.00", "currency": "GBP"}, "amount_max"),
        ({"fields": "status,amount"}, "fields"),
        ({"fields": "justification"}, "fields"),
    ],
)
def test_naming_a_hidden_field_is_a_400_naming_the_parameter(
    client: TestClient, org: Org, params: dict[str, str], parameter: str
) -> None:
    response = client.get(CREDITS, params=params, headers=org.auth("junior"))

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == parameter


def test_a_junior_agent_may_sort_by_time_and_filter_by_reason(
    client: TestClient, org: Org, sample: dict[str, object]
) -> None:
    params = {"account_id": sample["account_id"], "sort": "created_at"}
    ids = _all_pages(client, org, {**params, "reason": "goodwill"}, who="junior")
    assert ids == _expected(sample["rows"], "created_at")
