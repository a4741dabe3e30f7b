"""Races that must have exactly one winner, over real HTTP on PostgreSQL."""

import threading
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.api_helpers import credit_body
from tests.factories import Org, make_customer


def _race(calls: list[Callable[[], httpx.Response]]) -> list[int]:
    barrier = threading.Barrier(len(calls))
    statuses: list[int] = [0] * len(calls)

    def run(index: int) -> None:
        barrier.wait(timeout=10)
        statuses[index] = calls[index]().status_code

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return sorted(statuses)


@pytest.mark.postgres
@pytest.mark.parametrize("attempt", range(5))
def test_two_finance_users_deciding_at_once_one_wins(
    live_server: str,
    org: Org,
    session_factory: sessionmaker[Session],
    attempt: int,
) -> None:
    customer = make_customer(session_factory, owner=org.agent)
    with httpx.Client(base_url=live_server, timeout=30) as client:
        created = client.post(
            "/api/v1/credits",
            json=credit_body(customer.case.id, "400.00"),
            headers=org.auth("agent"),
        ).json()
        url = f"/api/v1/credits/{created['id']}/approve"
        assert client.post(url, headers=org.auth("lead")).status_code == 200

        statuses = _race(
            [
                lambda: client.post(url, headers=org.auth("finance")),
                lambda: client.post(
                    url.replace("approve", "reject"),
                    json={"comment": "Not covered by the contract"},
                    headers=org.auth("finance_2"),
                ),
            ]
        )

    # A winning approval approves the credit (409 for the rejection); a winning
    # rejection sends it back to step one, as the finance step's on_reject says,
    # which closes the other finance item (403 not_assigned for the approval).
    assert statuses in ([200, 409], [200, 403]), f"attempt {attempt}: {statuses}"


@pytest.mark.postgres
def test_recall_racing_an_approval_one_wins(
    live_server: str, org: Org, session_factory: sessionmaker[Session]
) -> None:
    customer = make_customer(session_factory, owner=org.agent)
    with httpx.Client(base_url=live_server, timeout=30) as client:
        created = client.post(
            "/api/v1/credits",
            json=credit_body(customer.case.id, "35.00"),
            headers=org.auth("agent"),
        ).json()
        base = f"/api/v1/credits/{created['id']}"
        statuses = _race(
            [
                lambda: client.post(f"{base}/approve", headers=org.auth("lead")),
                lambda: client.post(f"{base}/recall", headers=org.auth("agent")),
            ]
        )
        final = client.get(base, headers=org.auth("agent")).json()["status"]

    assert statuses == [200, 409]
    assert final in {"approved", "posting", "posted", "applied", "recalled"}
