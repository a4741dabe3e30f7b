"""Domain events to subscribers, over real HTTP to a receiver on 127.0.0.1.

Each test has a database of its own (a subscription receives every event of
the database it lives in) and a frozen clock that the worker shares.
"""

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response

from creditdesk.config import Settings
from creditdesk.integrations import signing
from creditdesk.integrations.fakes.server import Fault, FaultInjector, Faults, serve
from creditdesk.outbox.worker import Worker
from tests.approvals.desk import Desk, open_desk


@dataclass
class Receiver:
    url: str
    faults: Faults
    received: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self, credit_id: int | None = None) -> list[dict[str, Any]]:
        with self.lock:
            found = list(self.received)
        if credit_id is None:
            return found
        return [e for e in found if e["body"]["data"].get("credit_id") == credit_id]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    app = FastAPI()
    faults = Faults()
    state = Receiver(url="", faults=faults)

    @app.post("/hooks")
    async def hook(request: Request) -> Response:
        raw = await request.body()
        with state.lock:
            state.received.append(
                {"raw": raw, "headers": dict(request.headers), "body": json.loads(raw)}
            )
        return Response(status_code=204)

    with serve(FaultInjector(app, faults)) as url:
        state.url = f"{url}/hooks"
        yield state


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    with open_desk(tmp_path, Settings(env="test")) as desk:
        yield desk


def _subscribe(desk: Desk, receiver: Receiver, **body: Any) -> dict[str, Any]:
    response = desk.client.post(
        "/api/v1/admin/event-subscriptions",
        json={"url": receiver.url, **body},
        headers=desk.org.auth("admin"),
    )
    assert response.status_code == 201, response.text
    return response.json()


def _drain(desk: Desk) -> None:
    worker = Worker(desk.factory, clock=desk.clock, settings=desk.settings)
    while worker.run_once():
        pass


def test_a_credit_story_reaches_the_subscriber_signed(
    desk: Desk, receiver: Receiver
) -> None:
    subscription = _subscribe(desk, receiver, description="ERP feed")
    credit = desk.raise_credit("10.00")

    _drain(desk)

    events = receiver.events(credit["id"])
    assert [e["body"]["type"] for e in events] == [
        "credit.requested",
        "credit.approved",
        "credit.posted",
        "credit.applied",
    ]
    resolved = [e for e in receiver.events() if e["body"]["type"] == "case.resolved"]
    assert [e["body"]["data"]["case_id"] for e in resolved] == [credit["case_id"]]
    applied = events[-1]["body"]
    assert applied["data"]["amount"] == "10.00"
    assert applied["data"]["external_ref"].startswith("LM-")
    for event in [*events, *resolved]:
        headers = event["headers"]
        assert headers["x-creditdesk-event"] == event["body"]["type"]
        assert headers["x-creditdesk-event-id"] == event["body"]["id"]
        assert signing.verify_signature(
            subscription["secret"],
            headers["x-creditdesk-timestamp"],
            event["raw"],
            headers["x-creditdesk-signature"],
            desk.clock(),
        )

    log = desk.client.get(
        f"/api/v1/admin/event-subscriptions/{subscription['id']}/deliveries",
        headers=desk.org.auth("admin"),
    ).json()["items"]
    assert {d["outcome"] for d in log} == {"delivered"}
    assert len(log) == len(receiver.events())


def test_a_subscription_gets_only_the_events_it_names(
    desk: Desk, receiver: Receiver
) -> None:
    _subscribe(desk, receiver, event_types=["credit.applied"])
    credit = desk.raise_credit("10.00")

    _drain(desk)

    assert [e["body"]["type"] for e in receiver.events()] == ["credit.applied"]
    assert receiver.events()[0]["body"]["data"]["credit_id"] == credit["id"]


def test_a_failed_delivery_is_retried_and_logged(
    desk: Desk, receiver: Receiver
) -> None:
    subscription = _subscribe(desk, receiver, event_types=["credit.requested"])
    receiver.faults.add(Fault("POST", "/hooks", status=503, retry_after="30"))
    desk.raise_credit("10.00")

    _drain(desk)
    assert receiver.events() == []
    desk.clock.advance(timedelta(minutes=5))
    _drain(desk)

    assert len(receiver.events()) == 1
    log = desk.client.get(
        f"/api/v1/admin/event-subscriptions/{subscription['id']}/deliveries",
        headers=desk.org.auth("admin"),
    ).json()["items"]
    assert [(d["attempt"], d["outcome"], d["status_code"]) for d in log] == [
        (2, "delivered", 204),
        (1, "retrying", 503),
    ]


def test_a_refusing_subscriber_is_not_retried(desk: Desk, receiver: Receiver) -> None:
    subscription = _subscribe(desk, receiver, event_types=["credit.requested"])
    receiver.faults.add(Fault("POST", "/hooks", status=410, times=5))
    desk.raise_credit("10.00")

    _drain(desk)
    desk.clock.advance(timedelta(hours=2))
    _drain(desk)

    log = desk.client.get(
        f"/api/v1/admin/event-subscriptions/{subscription['id']}/deliveries",
        headers=desk.org.auth("admin"),
    ).json()["items"]
    assert [(d["outcome"], d["status_code"]) for d in log] == [("failed", 410)]


def test_a_revoked_subscription_hears_nothing_more(
    desk: Desk, receiver: Receiver
) -> None:
    subscription = _subscribe(desk, receiver)
    desk.raise_credit("10.00")
    revoked = desk.client.delete(
        f"/api/v1/admin/event-subscriptions/{subscription['id']}",
        headers=desk.org.auth("admin"),
    )
    assert revoked.json()["is_active"] is False

    desk.raise_credit("10.00")
    _drain(desk)

    assert receiver.events() == []
    listed = desk.client.get(
        "/api/v1/admin/event-subscriptions", headers=desk.org.auth("admin")
    ).json()["items"]
    assert "secret" not in listed[0]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "not a url"}, "url"),
        ({"url": "http://127.0.0.1:9/x", "event_types": ["credit.eaten"]}, None),
    ],
)
def test_bad_subscriptions_are_refused(
    desk: Desk, body: dict[str, Any], field: str | None
) -> None:
    response = desk.client.post(
        "/api/v1/admin/event-subscriptions", json=body, headers=desk.org.auth("admin")
    )

    assert response.status_code == 422
    assert response.json()["field"] == (field or "event_types")


def test_only_admins_manage_subscriptions(desk: Desk, receiver: Receiver) -> None:
    for who in ("agent", "finance", "auditor"):
        response = desk.client.post(
            "/api/v1/admin/event-subscriptions",
            json={"url": receiver.url},
            headers=desk.org.auth(who),
        )
        assert response.status_code == 403


def test_a_rejection_and_a_void_reach_the_subscriber(
    desk: Desk, receiver: Receiver
) -> None:
    _subscribe(desk, receiver, event_types=["credit.rejected", "credit.voided"])
    pending = desk.raise_credit("50.00")
    assert pending["status"] == "pending_approval"
    applied = desk.raise_credit("10.00")
    _drain(desk)

    rejected = desk.client.post(
        f"/api/v1/credits/{pending['id']}/reject",
        json={"comment": "Not what the contract covers"},
        headers=desk.org.auth("lead"),
    )
    voided = desk.client.post(
        f"/api/v1/credits/{applied['id']}/void",
        json={"justification": "The customer was credited twice for one outage."},
        headers=desk.org.auth("finance"),
    )
    assert (rejected.status_code, voided.status_code) == (200, 200), voided.text
    _drain(desk)

    assert [e["body"]["type"] for e in receiver.events(pending["id"])] == [
        "credit.rejected"
    ]
    [void] = receiver.events(applied["id"])
    assert void["body"]["type"] == "credit.voided"
    assert void["body"]["data"]["status"] == "voided"
