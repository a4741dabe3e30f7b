"""The share of credits needing approval, and the turnaround, by hand."""

from creditdesk.credits.models import CreditStatus
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
