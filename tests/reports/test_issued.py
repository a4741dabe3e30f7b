"""Credits issued, by hand: count, total and average per currency."""

from datetime import date

from creditdesk.credits.models import CreditStatus
from creditdesk.reports.filters import check_filters
from creditdesk.reports.issued import GROUPED_INDEX, _grouped, credits_issued
from creditdesk.reports.scope import scope_for
from creditdesk.reports.settings import RoiBaselines
from creditdesk.users.models import User
from tests.reports.history import History
from tests.reports.plans import sqlite_plan
from tests.reports.test_currency import add_rate

S = CreditStatus
JANUARY = {"date_from": "2015-01-01", "date_to": "2015-01-31"}


def write_january(history: History) -> None:
    a1, a2 = history.org.agent, history.agent_2
    credit = history.credit
    credit(by=a1, amount=1000, created="2015-01-05 10:00", product="broadband")
    credit(
        by=a1,
        amount=2001,
        created="2015-01-06 10:00",
        product="mobile",
        status=S.POSTED,
    )
    credit(
        by=a2, amount=500, created="2015-01-07 10:00", reason="outage", status=S.VOIDED
    )
    credit(
        by=a2,
        amount=700,
        created="2015-01-31 23:59",
        reason="outage",
        currency="EUR",
        status=S.APPLIED,
    )
    # Not issued: refused by an approver, or never submitted.
    credit(by=a1, amount=9900, created="2015-01-08 10:00", status=S.REJECTED)
    credit(by=a2, amount=100, created="2015-01-09 10:00", status=S.DRAFT)
    # Outside the range on either side.
    credit(by=a1, amount=300, created="2014-12-31 23:59")
    credit(by=a1, amount=300, created="2015-02-01 00:00")


def test_figures_per_currency_by_each_dimension(history, report):
    write_january(history)
    a1, a2 = history.org.agent, history.agent_2

    body = report(history, "finance", "credits-issued", team=history.team_id, **JANUARY)

    tables = body["tables"]
    assert body["amounts"] == "per_currency"
    assert tables["overall"] == [
        {"currency": "EUR", "count": 1, "total": "7.00", "average": "7.00"},
        # 35.01 / 3 = 11.67 (11.6700 exactly enough).
        {"currency": "GBP", "count": 3, "total": "35.01", "average": "11.67"},
    ]
    by_agent = {(r["agent_id"], r["currency"]): r for r in tables["by_agent"]}
    # 30.01 / 2 = 15.005, rounded half to even: 15.00.
    assert by_agent[(a1.id, "GBP")]["total"] == "30.01"
    assert by_agent[(a1.id, "GBP")]["average"] == "15.00"
    assert by_agent[(a1.id, "GBP")]["agent"] == a1.display_name
    assert by_agent[(a2.id, "GBP")] | {} == {
        "agent_id": a2.id,
        "agent": a2.display_name,
        "currency": "GBP",
        "count": 1,
        "total": "5.00",
        "average": "5.00",
    }
    assert by_agent[(a2.id, "EUR")]["total"] == "7.00"
    assert len(by_agent) == 3

    by_reason = [
        (r["reason"], r["currency"], r["count"], r["total"])
        for r in tables["by_reason"]
    ]
    assert by_reason == [
        ("outage", "EUR", 1, "7.00"),
        ("outage", "GBP", 1, "5.00"),
        ("overcharge", "GBP", 2, "30.01"),
    ]
    by_product = [
        (r["product"], r["currency"], r["count"], r["average"])
        for r in tables["by_product"]
    ]
    assert by_product == [
        ("broadband", "EUR", 1, "7.00"),
        ("broadband", "GBP", 2, "7.50"),
        ("mobile", "GBP", 1, "20.01"),
    ]
    assert tables["by_team"] == [
        {
            "team_id": history.team_id,
            "team": history.org.team.name,
            "currency": "EUR",
            "count": 1,
            "total": "7.00",
            "average": "7.00",
        },
        {
            "team_id": history.team_id,
            "team": history.org.team.name,
            "currency": "GBP",
            "count": 3,
            "total": "35.01",
            "average": "11.67",
        },
    ]


def test_filters_narrow_the_figures(history, report):
    write_january(history)
    agent = history.org.agent

    def overall(**params):
        query = {"team": history.team_id, **JANUARY, **params}
        body = report(history, "finance", "credits-issued", **query)
        return [
            (r["currency"], r["count"], r["total"]) for r in body["tables"]["overall"]
        ]

    assert overall(agent=agent.id) == [("GBP", 2, "30.01")]
    assert overall(product="mobile") == [("GBP", 1, "20.01")]
    assert overall(reason="outage") == [("EUR", 1, "7.00"), ("GBP", 1, "5.00")]
    assert overall(currency="EUR") == [("EUR", 1, "7.00")]
    assert overall(date_to="2015-01-06") == [("GBP", 2, "30.01")]
    assert overall(date_from="2015-01-31") == [("EUR", 1, "7.00")]
    assert overall(product="tv") == []


def test_reading_the_whole_index_gives_the_same_figures(history, session):
    # SQLite reads a long range off the grouped index instead of the date
    # range: the planner must take that index, and the figures stay the same.
    write_january(history)
    finance = session.get(User, history.org.finance.id)
    filters = check_filters(
        session,
        today=date(2015, 2, 1),
        date_from=date(2015, 1, 1),
        date_to=date(2015, 1, 31),
        team_id=history.team_id,
    )
    scope = scope_for(session, finance, filters, RoiBaselines())

    by_range = credits_issued(session, scope, whole_index=False).tables
    by_index = credits_issued(session, scope, whole_index=True).tables

    assert by_index == by_range
    assert by_index["overall"][1]["total"] == "35.01"
    if session.get_bind().dialect.name == "sqlite":
        assert GROUPED_INDEX in sqlite_plan(session, _grouped(session, scope, True))


def test_a_summary_has_the_overall_and_team_figures_alone(history, session):
    # The dashboard's summary groups by team only where the database need
    # not sort for it; either way its figures are the full report's.
    write_january(history)
    add_rate(history, "EUR", "GBP", "2015-01-01", "0.85")
    finance = session.get(User, history.org.finance.id)

    for convert_to in (None, "GBP"):
        filters = check_filters(
            session,
            today=date(2015, 2, 1),
            date_from=date(2015, 1, 1),
            date_to=date(2015, 1, 31),
            convert_to=convert_to,
        )
        full = scope_for(session, finance, filters, RoiBaselines())
        summary = scope_for(session, finance, filters, RoiBaselines(), summary=True)
        expected = credits_issued(session, full).tables

        for whole_index in (False, True):
            tables = credits_issued(session, summary, whole_index=whole_index).tables
            assert tables == {
                "overall": expected["overall"],
                "by_team": expected["by_team"],
            }
        assert len(expected["by_agent"]) >= 2
        assert expected["by_team"][0]["count"] >= 1
