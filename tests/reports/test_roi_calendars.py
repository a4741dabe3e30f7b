"""Cases per agent per working day, each agent's days counted on their team's
calendar (its working week and holidays), by hand."""

from datetime import date, time

import pytest

from creditdesk.approvals.calendar import BusinessCalendar
from creditdesk.db import transaction
from creditdesk.reports.filters import check_filters
from creditdesk.reports.roi import roi
from creditdesk.reports.scope import scope_for
from creditdesk.reports.settings import RoiBaselines
from creditdesk.users.models import Role, User
from tests.factories import make_team, make_user
from tests.reports.history import History

# December 2015 starts on a Tuesday: 23 days Monday to Friday, 19 Monday to
# Thursday.
DECEMBER = (date(2015, 12, 1), date(2015, 12, 31))
NINE_TO_FIVE = (time(9), time(17))


def calendar(days: range, holidays: tuple[str, ...]) -> dict:
    return BusinessCalendar(
        time_zone="Europe/London",
        week=dict.fromkeys(days, NINE_TO_FIVE),
        holidays=frozenset(date.fromisoformat(h) for h in holidays),
    ).to_config()


@pytest.fixture
def teams(history: History) -> dict:
    """A manager over three agents: one on a weekday team with Christmas and
    the Monday after as holidays (and Boxing Day, a Saturday), one on a
    four-day team with Christmas Eve off, one on a team with no calendar."""
    with transaction(history.factory) as session:
        weekdays = make_team(session)
        weekdays.calendar = calendar(
            range(5), ("2015-12-25", "2015-12-26", "2015-12-28", "2016-01-01")
        )
        four_days = make_team(session)
        four_days.calendar = calendar(range(4), ("2015-12-24",))
        plain = make_team(session)
        boss = make_user(session, role=Role.MANAGER, team=weekdays)
        agents = {
            name: make_user(session, role=Role.AGENT, team=team, manager=boss)
            for name, team in (("a", weekdays), ("b", four_days), ("c", plain))
        }
        ids = {"weekdays": weekdays.id, "four_days": four_days.id, "plain": plain.id}
    for name, count in (("a", 10), ("b", 9), ("c", 1)):
        for _ in range(count):
            history.case(
                owner=agents[name],
                opened="2015-12-01 09:00",
                resolved="2015-12-15 09:00",
            )
    return {"boss": boss, **ids}


def per_agent_day(history: History, boss: User, team_id: int | None = None) -> str:
    with history.factory() as session:
        filters = check_filters(
            session,
            today=date(2016, 1, 1),
            date_from=DECEMBER[0],
            date_to=DECEMBER[1],
            team_id=team_id,
        )
        user = session.get(User, boss.id)
        report = roi(session, scope_for(session, user, filters, RoiBaselines()))
    rows = {row["measure"]: row for row in report.tables["summary"]}
    return rows["cases_per_agent_per_working_day"]["value"]


def test_holidays_and_a_four_day_week_shorten_the_agents_days(history, teams):
    # Working days: 23 - 2 holidays = 21; 19 - 1 = 18; 23 on the default
    # calendar. 20 cases over 21 + 18 + 23 = 62 agent-days: 0.3225... a day
    # (Monday to Friday for everyone would give 20 / 69 = 0.29).
    assert per_agent_day(history, teams["boss"]) == "0.32"


def test_each_team_on_its_own_calendar(history, teams):
    boss = teams["boss"]
    assert per_agent_day(history, boss, teams["weekdays"]) == "0.48"  # 10 / 21
    assert per_agent_day(history, boss, teams["four_days"]) == "0.50"  # 9 / 18
    assert per_agent_day(history, boss, teams["plain"]) == "0.04"  # 1 / 23
