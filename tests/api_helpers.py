"""Small helpers for tests that drive the API."""

from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.clock import system_clock
from creditdesk.config import Settings
from creditdesk.outbox.worker import Worker

JUSTIFICATION = "Customer was billed twice for the same broadband month."


def credit_body(case_id: int, amount: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "case_id": case_id,
        "amount": amount,
        "currency": "GBP",
        "type": "dispute",
        "reason": "overcharge",
        "justification": JUSTIFICATION,
    }
    body.update(overrides)
    return body


def raise_credit(
    client: TestClient, headers: dict[str, str], case_id: int, amount: str, **kw: Any
) -> dict[str, Any]:
    response = client.post(
        "/api/v1/credits", json=credit_body(case_id, amount, **kw), headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


def drain_outbox(
    factory: sessionmaker[Session], settings: Settings, *, rounds: int = 5
) -> int:
    """Run the worker until it finds nothing more to do; returns messages done."""
    worker = Worker(factory, clock=system_clock, settings=settings, name="test-worker")
    done = 0
    for _ in range(rounds):
        handled = worker.run_once()
        if handled == 0:
            break
        done += handled
    return done


def count(session: Session, table: sa.Table | type, *where: Any) -> int:
    query = sa.select(sa.func.count()).select_from(table)
    for clause in where:
        query = query.where(clause)
    return session.scalar(query) or 0
