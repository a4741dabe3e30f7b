"""Team calendars over the admin API: who may use it, what it accepts, the
audit trail, and the deadlines that follow."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.approvals.calendar import DEFAULT_CALENDAR
from creditdesk.audit.models import AuditEntry
from creditdesk.config import Settings
from creditdesk.db import transaction
from creditdesk.users.models import Team
from tests.approvals.desk import Desk, open_desk
from tests.factories import Org, make_team

ADMIN = "/api/v1/admin"

NEW_YORK = {
    "time_zone": "America/New_York",
    "week": {"mon": ["08:30", "16:30"], "wed": ["10:00", "18:00"]},
    "holidays": ["2023-12-25", "2023-07-04"],
}


@pytest.fixture
def team(session_factory: sessionmaker[Session]) -> Team:
    with transaction(session_factory) as session:
        return make_team(session)


def _path(team: Team) -> str:
    return f"{ADMIN}/teams/{team.id}/calendar"


def _put(client: TestClient, org: Org, team: Team, body: Any) -> Any:
    return client.put(_path(team), json=body, headers=org.auth("admin"))


@pytest.mark.parametrize("who", ["agent", "lead", "manager", "finance", "auditor"])
@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_only_administrators_may_see_or_change_calendars(
    client: TestClient, org: Org, team: Team, who: str, method: str
) -> None:
    kwargs = {"json": NEW_YORK} if method == "put" else {}
    response = client.request(method, _path(team), headers=org.auth(who), **kwargs)

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


def test_a_team_without_a_calendar_shows_the_default(
    client: TestClient, org: Org, team: Team
) -> None:
    response = client.get(_path(team), headers=org.auth("admin"))

    assert response.status_code == 200, response.text
    assert response.json() == {
        "team_id": team.id,
        "is_default": True,
        "calendar": DEFAULT_CALENDAR.to_config(),
    }


def _entries(factory: sessionmaker[Session], team: Team) -> list[AuditEntry]:
    with factory() as session:
        query = sa.select(AuditEntry).where(
            AuditEntry.entity_type == "team", AuditEntry.entity_id == str(team.id)
        )
        return list(session.scalars(query.order_by(AuditEntry.seq)))


def test_put_get_and_reset_round_trip_with_an_audit_trail(
    client: TestClient, org: Org, team: Team, session_factory: sessionmaker[Session]
) -> None:
    stored = {
        "time_zone": "America/New_York",
        "week": {"mon": ["08:30", "16:30"], "wed": ["10:00", "18:00"]},
        "holidays": ["2023-07-04", "2023-12-25"],
    }

    put = _put(client, org, team, NEW_YORK)
    assert put.status_code == 200, put.text
    assert put.json() == {"team_id": team.id, "is_default": False, "calendar": stored}
    got = client.get(_path(team), headers=org.auth("admin"))
    assert got.json() == put.json()
    again = _put(client, org, team, got.json()["calendar"])
    assert again.json() == put.json()
    with session_factory() as session:
        assert session.get_one(Team, team.id).calendar == stored

    reset = client.delete(_path(team), headers=org.auth("admin"))
    assert reset.status_code == 200, reset.text
    assert reset.json()["is_default"] is True
    assert reset.json()["calendar"] == DEFAULT_CALENDAR.to_config()

    entries = _entries(session_factory, team)
    # Putting the same calendar again changes nothing and is not audited.
    assert [e.action for e in entries] == ["team.calendar_set", "team.calendar_reset"]
    assert all(e.actor_id == org.admin.id for e in entries)
    assert json.loads(entries[0].changes) == {"calendar": [None, stored]}
    assert json.loads(entries[1].changes) == {"calendar": [stored, None]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**NEW_YORK, "time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({**NEW_YORK, "week": {"mon": ["25:00", "26:00"]}}, "week.mon.0"),
        ({**NEW_YORK, "week": {"mon": ["17:00", "09:00"]}}, "week.mon"),
        ({**NEW_YORK, "week": {"funday": ["09:00", "17:00"]}}, "week.funday"),
        ({**NEW_YORK, "week": {}}, "week"),
        ({**NEW_YORK, "holidays": ["25/12/2023"]}, "holidays.0"),
        ({**NEW_YORK, "colour": "blue"}, "colour"),
        ({"week": NEW_YORK["week"]}, "time_zone"),
    ],
)
def test_a_bad_calendar_is_refused_naming_the_field(
    client: TestClient,
    org: Org,
    team: Team,
    session_factory: sessionmaker[Session],
    body: dict[str, Any],
    field: str,
) -> None:
    response = _put(client, org, team, body)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == field
    with session_factory() as session:
        assert session.get_one(Team, team.id).calendar is None


def test_an_unknown_team_is_not_found(client: TestClient, org: Org) -> None:
    path = f"{ADMIN}/teams/999999999/calendar"

    assert client.get(path, headers=org.auth("admin")).status_code == 404
    assert client.put(path, json=NEW_YORK, headers=org.auth("admin")).status_code == (
        404
    )


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    with open_desk(tmp_path, Settings(env="test")) as desk:
        yield desk


def test_a_stored_calendar_sets_the_deadline_of_the_next_credit(desk: Desk) -> None:
    # Friday 2023-01-13 20:00 UTC: after hours in London, 15:00 in New York.
    desk.clock.now = datetime(2023, 1, 13, 20, 0, tzinfo=UTC)
    before = desk.raise_credit("35.00")
    body = {
        "time_zone": "America/New_York",
        "week": {day: ["09:00", "17:00"] for day in ("mon", "tue", "wed", "thu")},
    }
    body["week"]["fri"] = ["09:00", "17:00"]

    put = desk.client.put(
        f"{ADMIN}/teams/{desk.org.team.id}/calendar",
        json=body,
        headers=desk.org.auth("admin"),
    )
    assert put.status_code == 200, put.text
    after = desk.raise_credit("35.00")

    # The default policy's manager step has eight business hours.
    [old] = desk.items(before["id"])
    assert old.due_at == datetime(2023, 1, 16, 17, 0, tzinfo=UTC)
    [new] = desk.items(after["id"])
    assert new.due_at == datetime(2023, 1, 16, 20, 0, tzinfo=UTC)
