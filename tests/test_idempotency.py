"""Idempotency-Key: replay, mismatch, in-flight conflict, and retention."""

import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.config import Settings
from creditdesk.credits.models import BillingCredit
from creditdesk.idempotency import service as idempotency
from creditdesk.idempotency.models import IdempotencyRecord
from tests.api_helpers import count, credit_body
from tests.factories import Org, make_customer


def _post(client: TestClient, org: Org, body: dict, key: str):
    headers = {**org.auth("agent"), "Idempotency-Key": key}
    return client.post("/api/v1/credits", json=body, headers=headers)


def test_same_key_and_body_replays_the_first_response(
    client: TestClient, org: Org, session_factory: sessionmaker[Session]
) -> None:
    customer = make_customer(session_factory, owner=org.agent)
    key = str(uuid.uuid4())
    body = credit_body(customer.case.id, "12.00")

    first = _post(client, org, body, key)
    second = _post(client, org, {**body}, key)

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    with session_factory() as session:
        assert (
            count(session, BillingCredit, BillingCredit.case_id == customer.case.id)
            == 1
        )


def test_same_key_with_another_body_is_a_422(
    client: TestClient, org: Org, session_factory: sessionmaker[Session]
) -> None:
    customer = make_customer(session_factory, owner=org.agent)
    key = str(uuid.uuid4())
    assert (
        _post(client, org, credit_body(customer.case.id, "12.00"), key).status_code
        == 201
    )

    reused = _post(client, org, credit_body(customer.case.id, "13.00"), key)

    assert reused.status_code == 422
    assert reused.json()["field"] == "Idempotency-Key"


def test_a_request_with_a_key_in_flight_gets_409(
    client: TestClient,
    org: Org,
    session_factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    customer = make_customer(session_factory, owner=org.agent)
    key = str(uuid.uuid4())
    body = credit_body(customer.case.id, "12.00")
    from creditdesk.credits.schemas import CreditIn

    claim = idempotency.Claim(
        user_id=org.agent.id,
        key=key,
        scope="POST /credits",
        request_hash=idempotency.fingerprint(CreditIn(**body).model_dump(mode="json")),
    )
    # The first request has claimed the key and is still working.
    assert (
        idempotency._begin(
            session_factory, claim, now=datetime.now(UTC), settings=settings
        )
        is None
    )

    response = _post(client, org, body, key)

    assert response.status_code == 409
    with session_factory() as session:
        assert (
            count(session, BillingCredit, BillingCredit.case_id == customer.case.id)
            == 0
        )


def test_keys_are_per_user(
    client: TestClient, org: Org, session_factory: sessionmaker[Session]
) -> None:
    customer = make_customer(session_factory, owner=org.agent)
    key = str(uuid.uuid4())
    body = credit_body(customer.case.id, "12.00")
    assert _post(client, org, body, key).status_code == 201
    other = client.post(
        "/api/v1/credits",
        json=body,
        headers={**org.auth("lead"), "Idempotency-Key": key},
    )
    assert other.status_code == 201
    assert "idempotent-replayed" not in other.headers


def test_records_are_kept_at_least_a_day(
    client: TestClient, org: Org, session_factory: sessionmaker[Session]
) -> None:
    customer = make_customer(session_factory, owner=org.agent)
    key = str(uuid.uuid4())
    before = datetime.now(UTC)
    assert (
        _post(client, org, credit_body(customer.case.id, "2.00"), key).status_code
        == 201
    )

    with session_factory() as session:
        record = session.query(IdempotencyRecord).filter_by(key=key).one()
        assert record.expires_at >= before + timedelta(hours=24)
        assert idempotency.purge_expired(session, now=before + timedelta(hours=23)) >= 0
        assert session.query(IdempotencyRecord).filter_by(key=key).count() == 1
