"""Monthly leakage: posted credits, compliant and flagged, by hand."""

from datetime import UTC, date, datetime, timedelta, timezone

from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.reports.filters import check_filters
from creditdesk.reports.leakage import GROUPED_INDEX, _grouped, leakage
from creditdesk.reports.scope import Scope, scope_for
from creditdesk.reports.settings import RoiBaselines
from creditdesk.users.models import User
from tests.reports.history import History
from tests.reports.plans import sqlite_plan

S = CreditStatus
SUMMER = {"date_from": "2015-06-01", "date_to": "2015-07-31"}


def write_summer(history: History) -> None:
    agent, credit = history.org.agent, history.credit
    credit(
        by=agent,
        amount=1000,
        created="2015-06-01 09:00",
        posted="2015-06-02 09:00",
        status=S.POSTED,
    )
    credit(
        by=agent,
        amount=2000,
        created="2015-06-01 09:00",
        posted="2015-06-03 09:00",
        status=S.APPLIED,
        near_duplicate=True,
    )
    credit(
        by=agent,
        amount=3000,
        created="2015-06-01 09:00",
        posted="2015-06-04 09:00",
        status=S.VOIDED,
        over_cap=True,
    )
    credit(
        by=agent,
        amount=500,
        created="2015-06-01 09:00",
        currency="EUR",
        posted="2015-06-05 09:00",
        status=S.APPLIED,
    )
    # Approved, never posted.
    credit(by=agent, amount=4000, created="2015-06-01 09:00")
    credit(
        by=agent,
        amount=100,
        created="2015-06-30 09:00",
        posted="2015-07-01 00:00",
        status=S.APPLIED,
    )


def test_posted_compliant_and_flagged_by_team_and_month(history, report):
    write_summer(history)

    body = report(history, "finance", "leakage", team=history.team_id, **SUMMER)

    rows = [
        (r["month"], r["category"], r["currency"], r["count"], r["total"])
        for r in body["tables"]["by_team_month"]
    ]
    assert rows == [
        ("2015-06", "posted", "EUR", 1, "5.00"),
        ("2015-06", "posted", "GBP", 3, "60.00"),
        ("2015-06", "compliant", "EUR", 1, "5.00"),
        ("2015-06", "compliant", "GBP", 1, "10.00"),
        ("2015-06", "flagged", "GBP", 2, "50.00"),
        ("2015-06", "near_duplicate", "GBP", 1, "20.00"),
        ("2015-06", "over_cap", "GBP", 1, "30.00"),
        ("2015-06", "voided", "GBP", 1, "30.00"),
        ("2015-07", "posted", "GBP", 1, "1.00"),
        ("2015-07", "compliant", "GBP", 1, "1.00"),
    ]
    assert {r["team_id"] for r in body["tables"]["by_team_month"]} == {history.team_id}
    assert "share of the revenue billed" in body["notes"][0]


def summer_scope(session, history: History, **filters) -> Scope:
    """Finance's view of June and July 2015, narrowed by ``filters``."""
    finance = session.get(User, history.org.finance.id)
    checked = check_filters(
        session,
        today=date(2015, 8, 1),
        date_from=date(2015, 6, 1),
        date_to=date(2015, 7, 31),
        **filters,
    )
    return scope_for(session, finance, checked, RoiBaselines())


def test_reading_the_whole_index_gives_the_same_figures(history, session):
    write_summer(history)
    scope = summer_scope(session, history, team_id=history.team_id)

    by_range = leakage(session, scope, whole_index=False).tables
    by_index = leakage(session, scope, whole_index=True).tables

    assert by_index == by_range
    assert len(by_index["by_team_month"]) == 10
    if session.get_bind().dialect.name == "sqlite":
        assert GROUPED_INDEX in sqlite_plan(session, _grouped(session, scope, True))


def test_a_credit_s_posted_month_follows_its_posted_time_in_utc():
    credit = BillingCredit(posted_at=datetime(2026, 3, 31, 23, 30, tzinfo=UTC))
    assert credit.posted_month == "2026-03"

    ahead = timezone(timedelta(hours=2))
    credit.posted_at = datetime(2026, 4, 1, 1, 0, tzinfo=ahead)
    assert credit.posted_month == "2026-03"
    credit.posted_at = None
    assert credit.posted_month is None
