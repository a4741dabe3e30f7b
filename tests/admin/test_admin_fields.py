"""Field permissions through the administration API, and the override cache."""

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.access.field_cache import OverrideCache
from creditdesk.access.models import FieldLevel, FieldPermission
from creditdesk.audit.models import AuditEntry
from creditdesk.db import transaction
from tests.access.field_support import FIELD_PERMISSIONS, field_override
from tests.api_helpers import raise_credit
from tests.factories import Org, make_customer, now


def _rule(client: TestClient, org: Org, role: str, field: str) -> dict[str, object]:
    rules = client.get(FIELD_PERMISSIONS, headers=org.auth("admin")).json()["rules"]
    return next(
        r
        for r in rules
        if (r["role"], r["entity"], r["field"]) == (role, "credit", field)
    )


def test_the_matrix_shows_defaults_and_overrides(client: TestClient, org: Org) -> None:
    junior = _rule(client, org, "junior_agent", "amount")
    assert junior == {
        "role": "junior_agent",
        "entity": "credit",
        "field": "amount",
        "level": "hidden",
        "default": "hidden",
        "overridden": False,
    }

    with field_override(client, org, "finance", "product", "hidden"):
        rule = _rule(client, org, "finance", "product")
        assert rule["level"] == "hidden" and rule["overridden"] is True
        assert rule["default"] == "read"

    assert _rule(client, org, "finance", "product")["overridden"] is False


def test_set_and_reset_are_audited(
    client: TestClient, org: Org, session_factory: sessionmaker[Session]
) -> None:
    with field_override(client, org, "manager", "last_error", "read"):
        pass

    with session_factory() as session:
        entries = list(
            session.scalars(
                sa.select(AuditEntry)
                .where(AuditEntry.entity_id == "manager/credit/last_error")
                .order_by(AuditEntry.seq.desc())
                .limit(2)
            )
        )
    assert [e.action for e in entries] == [
        "field_permission.reset",
        "field_permission.set",
    ]
    assert entries[1].actor_id == org.admin.id
    assert entries[1].changes == '{"level":[null,"read"]}'


def test_deleting_an_absent_override_answers_the_default(
    client: TestClient, org: Org
) -> None:
    response = client.delete(
        f"{FIELD_PERMISSIONS}/auditor/credit/reason", headers=org.auth("admin")
    )
    assert response.status_code == 200
    assert response.json()["level"] == "read"
    assert response.json()["overridden"] is False


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/boss/credit/amount", {"level": "hidden"}, "role"),
        ("/agent/invoice/amount", {"level": "hidden"}, "entity"),
        ("/agent/credit/id", {"level": "hidden"}, "field"),
        ("/agent/credit/amount", {"level": "secret"}, "level"),
        ("/agent/credit/amount", {}, "level"),
    ],
)
def test_bad_targets_and_levels_name_the_field(
    client: TestClient, org: Org, path: str, body: dict[str, str], field: str
) -> None:
    response = client.put(
        FIELD_PERMISSIONS + path, json=body, headers=org.auth("admin")
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


def test_showing_the_amount_to_junior_agents_then_restoring_it(
    client: TestClient, org: Org, session_factory: sessionmaker[Session]
) -> None:
    customer = make_customer(session_factory, owner=org.junior, cap_minor=10**9)
    credit = raise_credit(client, org.auth("agent"), customer.case.id, "8.08")
    path = f"/api/v1/credits/{credit['id']}"

    with field_override(client, org, "junior_agent", "amount", "read"):
        assert client.get(path, headers=org.auth("junior")).json()["amount"] == "8.08"
        sorted_ok = client.get(
            "/api/v1/credits", params={"sort": "-amount"}, headers=org.auth("junior")
        )
        assert sorted_ok.status_code == 200

    assert "amount" not in client.get(path, headers=org.auth("junior")).json()


def test_the_cache_keeps_another_process_change_until_it_expires(
    session_factory: sessionmaker[Session],
) -> None:
    """A row written behind the cache's back (as another process would) shows
    only after a clear or once the entry is older than max_age."""
    stale = OverrideCache(max_age=3600)
    uncached = OverrideCache(max_age=0)
    key = ("auditor", "credit", "external_ref")
    with session_factory() as session:
        assert key not in stale.overrides(session)

    with transaction(session_factory) as session:
        session.add(
            FieldPermission(
                role=key[0],
                entity=key[1],
                field=key[2],
                level=FieldLevel.HIDDEN,
                updated_at=now(),
            )
        )
    try:
        with session_factory() as session:
            assert key not in stale.overrides(session)
            assert uncached.overrides(session)[key] is FieldLevel.HIDDEN
            assert stale.overrides(session, fresh=True)[key] is FieldLevel.HIDDEN
            stale.clear()
            assert stale.overrides(session)[key] is FieldLevel.HIDDEN
    finally:
        with transaction(session_factory) as session:
            session.execute(
                sa.delete(FieldPermission).where(
                    FieldPermission.role == key[0],
                    FieldPermission.entity == key[1],
                    FieldPermission.field == key[2],
                )
            )
