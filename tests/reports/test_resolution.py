"""Time to resolution of billing cases by team and week, by hand."""

from datetime import date

from creditdesk.cases.models import CaseType
from tests.reports.history import History

MAY = {"date_from": "2015-05-04", "date_to": "2015-05-17"}


def write_may(history: History) -> None:
    agent, case = history.org.agent, history.case
    case(owner=agent, opened="2015-05-01 00:00", resolved="2015-05-04 00:00")
    case(owner=agent, opened="2015-05-04 00:00", resolved="2015-05-05 00:00")
    case(owner=agent, opened="2015-05-05 00:00", resolved="2015-05-05 06:00")
    # Resolved on the Sunday: still the week of Monday 4 May.
    case(owner=agent, opened="2015-05-06 00:00", resolved="2015-05-10 23:00")
    case(owner=agent, opened="2015-05-08 00:00", resolved="2015-05-11 01:00")
    # Not a billing case; not resolved; resolved before the range.
    case(
        owner=agent,
        opened="2015-05-04 00:00",
        resolved="2015-05-04 01:00",
        type=CaseType.SERVICE_ISSUE,
    )
    case(owner=agent, opened="2015-05-04 00:00")
    case(owner=agent, opened="2015-04-01 00:00", resolved="2015-05-03 23:59")


def test_median_p90_and_mean_by_team_and_week(history, report):
    write_may(history)

    body = report(history, "finance", "resolution-time", team=history.team_id, **MAY)

    team = {"team_id": history.team_id, "team": history.org.team.name}
    assert body["tables"]["by_team_week"] == [
        {
            "week": "2015-05-04",
            **team,
            "resolved": 4,
            # 21,600, 86,400, 259,200 and 428,400 seconds.
            "median_seconds": 86_400,
            "p90_seconds": 428_400,
            "mean_seconds": 198_900,
        },
        {
            "week": "2015-05-11",
            **team,
            "resolved": 1,
            "median_seconds": 262_800,
            "p90_seconds": 262_800,
            "mean_seconds": 262_800,
        },
    ]


def test_an_agent_filter_keeps_their_cases(history, report):
    write_may(history)
    history.case(
        owner=history.agent_2, opened="2015-05-12 00:00", resolved="2015-05-12 00:30"
    )

    body = report(
        history, "finance", "resolution-time", agent=history.agent_2.id, **MAY
    )

    rows = body["tables"]["by_team_week"]
    assert [(r["week"], r["resolved"], r["mean_seconds"]) for r in rows] == [
        ("2015-05-11", 1, 1_800)
    ]


def test_counted_only_the_weeks_keep_their_counts_and_no_times(history, counted):
    write_may(history)

    rows = counted(
        history,
        "resolution-time",
        team_id=history.team_id,
        date_from=date(2015, 5, 4),
        date_to=date(2015, 5, 17),
    )["by_team_week"]

    assert [(r["week"], r["resolved"]) for r in rows] == [
        ("2015-05-04", 4),
        ("2015-05-11", 1),
    ]
    times = ("median_seconds", "p90_seconds", "mean_seconds")
    assert {r[key] for r in rows for key in times} == {None}
