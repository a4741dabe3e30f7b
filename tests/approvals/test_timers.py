"""Deadlines in business hours, reminders before them and escalation after,
driven by a FrozenClock and ``timers.run_due`` on a desk of their own."""

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from creditdesk.approvals.calendar import BusinessCalendar
from creditdesk.approvals.models import WorkItemStatus
from creditdesk.approvals.timers import TimerRun
from creditdesk.users.models import Role, User
from tests.approvals.desk import MONDAY, Desk
from tests.smtp_sink import Sink

FRIDAY = datetime(2023, 1, 13, 16, 0, tzinfo=UTC)
WEEKDAYS = {day: (time(9), time(17)) for day in range(5)}

# Each band is one way of timing or escalating a single manager step.
POLICY = """
reason_codes: {{overcharge: {{label: Overcharge}}}}
credit_types: {{dispute: {{label: Billing dispute}}}}
auto_approval_limit:
  default: {{GBP: "20.00"}}
approval_matrix:
  bands:
    - up_to: {{GBP: "100.00"}}
      steps:
        - {{approver: manager, deadline_hours: 8, remind_before_hours: 2}}
    - up_to: {{GBP: "200.00"}}
      steps:
        - approver: manager
          deadline_hours: 4
          remind_before_hours: 1
          escalate_to: queue:finance
    - up_to: {{GBP: "300.00"}}
      steps:
        - {{approver: manager, deadline_hours: 4, escalate_to: "user:{user}"}}
    - up_to: {{GBP: "400.00"}}
      steps:
        - {{approver: manager, deadline_hours: 0}}
  refuse_above: {{GBP: "400.00"}}
approvals: {{deadline_hours: 16, remind_before_hours: 4}}
eligibility: {{rolling_cap_days: 30, near_duplicate_days: 0}}
"""

DEFAULT_ESCALATION = "50.00"
TO_FINANCE = "150.00"
TO_USER = "250.00"
NO_DEADLINE = "350.00"


@pytest.fixture
def outsider(desk: Desk) -> User:
    """A team lead outside the requester's line: sees a credit only through
    work given to them, here by the policy's ``user:`` escalation."""
    user = desk.add_user(role=Role.TEAM_LEAD)
    desk.apply_policy(POLICY.format(user=user.username))
    return user


@pytest.fixture
def timed(desk: Desk, outsider: User) -> Desk:
    return desk


def _at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _inbox(desk: Desk, who: str) -> list[dict[str, Any]]:
    response = desk.client.get("/api/v1/approvals", headers=desk.org.auth(who))
    assert response.status_code == 200, response.text
    return response.json()["items"]


def _inbox_credits(desk: Desk, who: str) -> list[int]:
    return [entry["credit"]["id"] for entry in _inbox(desk, who)]


def _approve(desk: Desk, credit_id: int, who: str) -> Any:
    return desk.client.post(
        f"/api/v1/credits/{credit_id}/approve", headers=desk.org.auth(who)
    )


def test_a_credit_raised_late_on_friday_is_due_on_monday(timed: Desk) -> None:
    timed.clock.now = FRIDAY

    credit = timed.raise_credit(DEFAULT_ESCALATION)

    assert credit["status"] == "pending_approval"
    [item] = timed.items(credit["id"])
    # One hour on Friday, seven on Monday; the reminder two hours earlier.
    assert item.due_at == datetime(2023, 1, 16, 16, 0, tzinfo=UTC)
    assert item.remind_at == datetime(2023, 1, 16, 14, 0, tzinfo=UTC)
    [entry] = _inbox(timed, "lead")
    assert _iso(entry["work_item"]["due_at"]) == item.due_at
    assert entry["step"]["deadline_minutes"] == 8 * 60


def test_a_holiday_on_the_team_calendar_moves_the_deadline_on(timed: Desk) -> None:
    timed.set_calendar(
        BusinessCalendar(
            time_zone="Europe/London",
            week=WEEKDAYS,
            holidays=frozenset({date(2023, 1, 16)}),
        )
    )
    timed.clock.now = FRIDAY

    credit = timed.raise_credit(DEFAULT_ESCALATION)

    [item] = timed.items(credit["id"])
    assert item.due_at == datetime(2023, 1, 17, 16, 0, tzinfo=UTC)
    assert item.remind_at == datetime(2023, 1, 17, 14, 0, tzinfo=UTC)


def test_deadlines_follow_the_team_calendars_time_zone(timed: Desk) -> None:
    timed.set_calendar(BusinessCalendar(time_zone="America/New_York", week=WEEKDAYS))
    # 20:00 in London is after hours there, but 15:00 in New York.
    timed.clock.now = FRIDAY.replace(hour=20)

    credit = timed.raise_credit(DEFAULT_ESCALATION)

    [item] = timed.items(credit["id"])
    # Two hours on Friday, then six from 09:00 EST (14:00 UTC) on Monday.
    assert item.due_at == datetime(2023, 1, 16, 20, 0, tzinfo=UTC)
    assert item.remind_at == datetime(2023, 1, 16, 18, 0, tzinfo=UTC)


def test_a_step_without_a_deadline_is_never_reminded_or_escalated(
    timed: Desk,
) -> None:
    credit = timed.raise_credit(NO_DEADLINE)

    [item] = timed.items(credit["id"])
    assert item.due_at is None and item.remind_at is None
    timed.clock.advance(timedelta(days=30))
    assert timed.run_timers() == TimerRun(0, 0)
    assert [i.status for i in timed.items(credit["id"])] == [WorkItemStatus.PENDING]


def test_reminder_then_escalation_to_the_holders_manager(timed: Desk) -> None:
    org = timed.org
    credit = timed.raise_credit(DEFAULT_ESCALATION)
    [first] = timed.items(credit["id"])
    assert first.assignee_id == org.lead.id
    assert first.due_at == MONDAY.replace(hour=17)
    assert first.remind_at == MONDAY.replace(hour=15)

    timed.clock.now = MONDAY.replace(hour=14, minute=59)
    assert timed.run_timers() == TimerRun(0, 0)
    assert timed.items(credit["id"])[0].reminded_at is None

    timed.clock.now = MONDAY.replace(hour=15)
    assert timed.run_timers() == TimerRun(1, 0)
    timed.clock.now = MONDAY.replace(hour=16)
    assert timed.run_timers() == TimerRun(0, 0)
    [reminded] = timed.items(credit["id"])
    assert reminded.reminded_at == MONDAY.replace(hour=15)
    assert reminded.status is WorkItemStatus.PENDING
    assert len(timed.audit("credit", credit["id"], "work_item.reminded")) == 1

    timed.clock.now = MONDAY.replace(hour=17)
    assert timed.run_timers() == TimerRun(0, 1)

    old, new = timed.items(credit["id"])
    assert old.status is WorkItemStatus.ESCALATED
    assert old.decided_at == MONDAY.replace(hour=17)
    assert old.remind_at is None
    assert new.status is WorkItemStatus.PENDING
    assert new.assignee_id == org.manager.id
    assert new.original_assignee_id == org.manager.id
    assert new.origin == "escalated"
    assert new.step_id == old.step_id
    # A fresh eight business hours from the moment of escalation.
    tuesday = MONDAY + timedelta(days=1)
    assert new.due_at == tuesday.replace(hour=17)
    assert new.remind_at == tuesday.replace(hour=15)
    assert new.reminded_at is None
    [escalated] = timed.audit("credit", credit["id"], "work_item.escalated")
    moved = json.loads(escalated.changes)["assignee_id"]
    assert moved == [org.lead.id, [org.manager.id]]

    assert _inbox_credits(timed, "manager") == [credit["id"]]
    assert _inbox_credits(timed, "lead") == []
    refused = _approve(timed, credit["id"], "lead")
    assert refused.status_code == 403
    assert refused.json()["rule"] == "not_assigned"
    approved = _approve(timed, credit["id"], "manager")
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"


def test_the_timers_do_nothing_before_the_time(timed: Desk) -> None:
    credit = timed.raise_credit(DEFAULT_ESCALATION)
    [before] = timed.items(credit["id"])

    timed.clock.now = MONDAY.replace(hour=14, minute=59, second=59)
    assert timed.run_timers() == TimerRun(0, 0)

    [item] = timed.items(credit["id"])
    assert item.status is WorkItemStatus.PENDING
    assert item.reminded_at is None
    assert (item.due_at, item.remind_at) == (before.due_at, before.remind_at)
    assert timed.audit("credit", credit["id"], "work_item.reminded") == []


def test_escalation_to_the_finance_queue(timed: Desk) -> None:
    org = timed.org
    credit = timed.raise_credit(TO_FINANCE)
    [first] = timed.items(credit["id"])
    assert first.due_at == MONDAY.replace(hour=13)
    assert first.remind_at == MONDAY.replace(hour=12)

    # Late timers: the reminder and the deadline have both passed.
    timed.clock.now = MONDAY.replace(hour=13, minute=30)
    assert timed.run_timers() == TimerRun(1, 1)

    old, *new = timed.items(credit["id"])
    assert old.status is WorkItemStatus.ESCALATED
    assert sorted(i.assignee_id for i in new) == sorted(
        [org.finance.id, org.finance_2.id]
    )
    for item in new:
        assert item.queue_role == "finance"
        assert item.origin == "escalated"
        # Three and a half hours on Monday, the last half on Tuesday.
        assert item.due_at == (MONDAY + timedelta(days=1)).replace(minute=30)
        assert item.remind_at == MONDAY.replace(hour=16, minute=30)
        assert item.reminded_at is None
    assert credit["id"] in _inbox_credits(timed, "finance")
    assert credit["id"] in _inbox_credits(timed, "finance_2")

    assert _approve(timed, credit["id"], "finance").json()["status"] == "approved"
    statuses = {i.assignee_id: i.status for i in timed.items(credit["id"])[1:]}
    assert statuses == {
        org.finance.id: WorkItemStatus.APPROVED,
        org.finance_2.id: WorkItemStatus.NO_RESPONSE,
    }


def test_escalation_to_a_named_user_lets_them_see_the_credit(
    timed: Desk, outsider: User
) -> None:
    headers = timed.org.auth(outsider.username)
    credit = timed.raise_credit(TO_USER)
    path = f"/api/v1/credits/{credit['id']}"
    assert timed.client.get(path, headers=headers).status_code == 404

    timed.clock.now = MONDAY.replace(hour=13)
    assert timed.run_timers() == TimerRun(1, 1)

    _, new = timed.items(credit["id"])
    assert new.assignee_id == outsider.id
    assert new.origin == "escalated"
    assert new.due_at == MONDAY.replace(hour=17)
    assert timed.client.get(path, headers=headers).status_code == 200
    assert _inbox_credits(timed, outsider.username) == [credit["id"]]
    approved = _approve(timed, credit["id"], outsider.username)
    assert approved.json()["status"] == "approved"


def test_escalation_from_the_top_of_the_line_goes_to_the_manager_queue(
    timed: Desk,
) -> None:
    other = timed.add_user(role=Role.MANAGER)
    credit = timed.raise_credit(DEFAULT_ESCALATION)
    timed.clock.now = MONDAY.replace(hour=17)
    assert timed.run_timers() == TimerRun(1, 1)

    # The manager has nobody above them: the managers' queue takes it on.
    tuesday = MONDAY + timedelta(days=1)
    timed.clock.now = tuesday.replace(hour=17)
    assert timed.run_timers() == TimerRun(1, 1)

    *_, from_top = timed.items(credit["id"])
    assert from_top.assignee_id == other.id
    assert from_top.queue_role == "manager"
    assert from_top.origin == "escalated"
    assert _inbox_credits(timed, other.username) == [credit["id"]]


def test_escalation_stops_when_nobody_further_could_take_it(timed: Desk) -> None:
    # The lead's credit goes to the manager, who has no manager and is the
    # only member of the managers' queue.
    credit = timed.raise_credit(DEFAULT_ESCALATION, who="lead")
    [item] = timed.items(credit["id"])
    assert item.assignee_id == timed.org.manager.id

    timed.clock.now = MONDAY.replace(hour=17)
    assert timed.run_timers() == TimerRun(1, 0)
    [waiting] = timed.items(credit["id"])
    assert waiting.status is WorkItemStatus.PENDING
    assert waiting.due_at is None
    assert waiting.assignee_id == timed.org.manager.id

    timed.clock.advance(timedelta(days=7))
    assert timed.run_timers() == TimerRun(0, 0)
    assert len(timed.items(credit["id"])) == 1
    assert _approve(timed, credit["id"], "manager").json()["status"] == "approved"


def test_a_decision_before_the_timer_runs_wins(timed: Desk) -> None:
    credit = timed.raise_credit(DEFAULT_ESCALATION)
    timed.clock.now = MONDAY.replace(hour=16, minute=59)
    assert _approve(timed, credit["id"], "lead").json()["status"] == "approved"

    timed.clock.now = MONDAY.replace(hour=17)
    assert timed.run_timers() == TimerRun(0, 0)

    [item] = timed.items(credit["id"])
    assert item.status is WorkItemStatus.APPROVED
    assert item.decided_by_id == timed.org.lead.id
    assert timed.audit("credit", credit["id"], "work_item.escalated") == []


def _mail_to(sink: Sink, user: User) -> list[str]:
    # A long subject is folded onto a second line; unfolding it leaves the
    # blank that started that line.
    return [
        received.message["Subject"].strip()
        for received in sink.received
        if received.rcpt_tos == [user.email]
    ]


def test_holders_and_the_requester_are_told_by_mail(
    mail_desk: Desk, sink: Sink
) -> None:
    desk, org = mail_desk, mail_desk.org
    desk.apply_policy(POLICY.format(user=org.finance.username))
    credit = desk.raise_credit(DEFAULT_ESCALATION)
    number = credit["number"]

    assert desk.drain_mail() == 1
    assert _mail_to(sink, org.lead) == [
        f"[creditdesk] Assigned to you: approval for {number}"
    ]

    desk.clock.now = MONDAY.replace(hour=15)
    desk.run_timers()
    desk.drain_mail()
    assert _mail_to(sink, org.lead)[1:] == [
        f"[creditdesk] Reminder: approval for {number} is due 2023-01-09 17:00 UTC"
    ]

    desk.clock.now = MONDAY.replace(hour=17)
    desk.run_timers()
    desk.drain_mail()
    assert _mail_to(sink, org.manager) == [
        f"[creditdesk] Escalated to you: approval for {number}"
    ]

    assert _approve(desk, credit["id"], "manager").status_code == 200
    desk.drain_mail()
    assert _mail_to(sink, org.agent) == [
        f"[creditdesk] Decided: approval for {number} (approved)"
    ]
    assert len(_mail_to(sink, org.lead)) == 2
