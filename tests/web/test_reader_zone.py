"""Pages show times in the reader's zone: their team's calendar's."""

from datetime import UTC, datetime

import sqlalchemy as sa

from creditdesk.cases.models import Case
from creditdesk.db import make_session_factory, transaction
from creditdesk.users.models import Team, User
from creditdesk.web.zones import ReaderZones
from tests.web.support import Desk, make_desk

NEW_YORK = {
    "time_zone": "America/New_York",
    "week": {"mon": ["09:00", "17:00"]},
    "holidays": [],
}


def _opened_in_summer(session_factory, desk: Desk) -> int:
    """The desk's case opened at 13:05 UTC on 1 July; its team's id."""
    with transaction(session_factory) as session:
        case = session.get_one(Case, desk.case_id)
        case.opened_at = datetime(2026, 7, 1, 13, 5, tzinfo=UTC)
        return session.get_one(User, desk.agent.id).team_id


def _opened(page: str) -> str:
    after = page.split("<dt>Opened</dt><dd>", maxsplit=1)[1]
    return after.split("</dd>", maxsplit=1)[0]


def test_a_time_is_shown_in_the_zone_of_the_reader_s_team(
    client_for, desk: Desk, session_factory
):
    team_id = _opened_in_summer(session_factory, desk)
    with transaction(session_factory) as session:
        session.get_one(Team, team_id).calendar = NEW_YORK
    # A team without a calendar of its own keeps the default's London.
    default = make_desk(session_factory)
    _opened_in_summer(session_factory, default)

    new_york = client_for(desk.agent).get(f"/cases/{desk.case_id}").text
    london = client_for(default.agent).get(f"/cases/{default.case_id}").text

    assert _opened(new_york) == "2026-07-01 09:05 EDT"
    assert "Times are shown in America/New_York." in new_york
    assert _opened(london) == "2026-07-01 14:05 BST"
    assert "Times are shown in Europe/London." in london


def test_a_signed_out_page_states_utc(client_for):
    page = client_for(None).get("/sign-in")

    assert page.status_code == 200
    assert "Times are shown in UTC." in page.text


def test_a_team_s_zone_is_looked_up_again_once_its_time_is_up(
    desk: Desk, session_factory
):
    team_id = _opened_in_summer(session_factory, desk)
    kept = ReaderZones(session_factory, seconds=300)
    fresh = ReaderZones(session_factory, seconds=0)
    assert kept.of_team(team_id).key == fresh.of_team(team_id).key == "Europe/London"

    with transaction(session_factory) as session:
        session.get_one(Team, team_id).calendar = NEW_YORK

    assert kept.of_team(team_id).key == "Europe/London"
    assert fresh.of_team(team_id).key == "America/New_York"
    assert fresh.of_team(None).key == "Europe/London"


def test_without_a_database_a_page_falls_back_to_the_default_zone():
    unreachable = sa.create_engine("sqlite:////proc/no-such-dir/creditdesk.db")
    zones = ReaderZones(make_session_factory(unreachable), seconds=0)

    assert zones.of_team(1).key == "Europe/London"
