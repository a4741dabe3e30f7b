"""The share of credits needing approval, and the turnaround, by hand."""

from datetime import date

from creditdesk.credits.models import CreditStatus
from creditdesk.db import transaction
from creditdesk.users.models import Role
from tests.factories import make_user
from tests.reports.history import History

S = CreditStatus
SPRING = {"date_from": "2015-03-01", "date_to": "2015-04-30"}


def write_spring(history: History) -> None:
    agent, credit, request = history.org.agent, history.credit, history.request
    # 2 h, 24 h and (from the first of two requests) 26 h to the decision.
    c1 = credit(
        by=agent, amount=100, created="2015-03-02 10:00", decided="2015-03-02 12:00"
    )
    request(c1, created="2015-03-02 10:00")
    c2 = credit(
        by=agent,
        amount=100,
        created="2015-03-03 08:00",
        status=S.REJECTED,
        decided="2015-03-04 09:00",
    )
    request(c2, created="2015-03-03 09:00")
    c3 = credit(
        by=agent, amount=100, created="2015-03-05 08:00", decided="2015-03-06 10:00"
    )
    request(c3, created="2015-03-05 08:00")
    request(c3, created="2015-03-06 08:00")
    # Waiting: needs approval, not yet decided.
    c4 = credit(
        by=agent, amount=100, created="2015-03-06 11:00", status=S.PENDING_APPROVAL
    )
    request(c4, created="2015-03-06 11:00")
    # Approved by the policy alone.
    credit(by=agent, amount=100, created="2015-03-10 11:00", decided="2015-03-10 11:00")
    credit(by=agent, amount=100, created="2015-03-31 23:59", status=S.POSTED)
    # A draft was never submitted.
    credit(by=agent, amount=100, created="2015-03-07 11:00", status=S.DRAFT)
    c8 = credit(
        by=agent, amount=100, created="2015-04-01 00:00", decided="2015-04-01 01:00"
    )
    request(c8, created="2015-04-01 00:00")


def test_share_and_turnaround_by_team_and_month(history, report):
    write_spring(history)

    body = report(history, "finance", "approval-share", team=history.team_id, **SPRING)

    team = {"team_id": history.team_id, "team": history.org.team.name}
    assert body["tables"]["by_team_month"] == [
        {
            "month": "2015-03",
            **team,
            "credits": 6,
            "needing_approval": 4,
            "share_percent": "66.67",
            "decided": 3,
            # 7,200 s, 86,400 s and 93,600 s: nearest ranks 2 and 3.
            "turnaround_median_seconds": 86_400,
            "turnaround_p90_seconds": 93_600,
        },
        {
            "month": "2015-04",
            **team,
            "credits": 1,
            "needing_approval": 1,
            "share_percent": "100.00",
            "decided": 1,
            "turnaround_median_seconds": 3_600,
            "turnaround_p90_seconds": 3_600,
        },
    ]


def test_amounts_play_no_part_so_a_junior_sees_the_same_counts(history, report):
    write_spring(history)
    # The junior sees the credits on cases they own; move none there, and
    # the report is empty for them rather than an error.
    body = report(history, "junior", "approval-share", **SPRING)
    assert body["amounts"] == "hidden"
    assert body["tables"]["by_team_month"] == []


def test_a_range_cut_mid_month_counts_only_its_days_and_teamless_credits(
    history, report, session_factory
):
    with transaction(session_factory) as session:
        loner = make_user(session, role=Role.AGENT)
    loner_case = history.case(owner=loner, opened="2015-01-01 00:00")
    agent = history.org.agent
    # Before the range, on its first and last instants, and just after it.
    credit = history.credit
    credit(by=agent, amount=100, created="2015-03-09 23:59")
    first = credit(
        by=agent, amount=100, created="2015-03-10 00:00", decided="2015-03-10 02:00"
    )
    history.request(first, created="2015-03-10 00:00")
    credit(by=agent, amount=100, created="2015-04-05 23:59")
    credit(by=agent, amount=100, created="2015-04-06 00:00")
    teamless = credit(
        by=loner,
        amount=100,
        created="2015-03-20 12:00",
        status=S.PENDING_APPROVAL,
        case_id=loner_case,
    )
    history.request(teamless, created="2015-03-20 12:00")

    body = report(
        history,
        "finance",
        "approval-share",
        date_from="2015-03-10",
        date_to="2015-04-05",
    )

    # The database may hold other tests' teams: this test's are its own.
    ours = {None, history.team_id}
    rows = [r for r in body["tables"]["by_team_month"] if r["team_id"] in ours]
    summary = [
        (r["month"], r["team_id"], r["credits"], r["needing_approval"], r["decided"])
        for r in rows
    ]
    # Months in order; within one, the teamless row first.
    assert summary == [
        ("2015-03", None, 1, 1, 0),
        ("2015-03", history.team_id, 1, 1, 1),
        ("2015-04", history.team_id, 1, 0, 0),
    ]
    assert rows[0]["turnaround_median_seconds"] is None
    assert rows[1]["turnaround_p90_seconds"] == 7_200


def test_counted_only_the_report_keeps_its_counts_and_leaves_the_times_out(
    history, report, counted
):
    write_spring(history)

    full = report(history, "finance", "approval-share", team=history.team_id, **SPRING)
    rows = counted(
        history,
        "approval-share",
        team_id=history.team_id,
        date_from=date(2015, 3, 1),
        date_to=date(2015, 4, 30),
    )["by_team_month"]

    times = ("turnaround_median_seconds", "turnaround_p90_seconds")
    assert [{k: v for k, v in r.items() if k not in times} for r in rows] == [
        {k: v for k, v in r.items() if k not in times}
        for r in full["tables"]["by_team_month"]
    ]
    assert [r["decided"] for r in rows] == [3, 1]
    assert {r[key] for r in rows for key in times} == {None}
