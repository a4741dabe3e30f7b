"""Leakage as a share of billed revenue: the invoices of a team's accounts,
worked out by hand."""

import csv
import io

from creditdesk.credits.models import CreditStatus
from creditdesk.reports import revenue
from tests.factories import make_org
from tests.reports.history import History
from tests.reports.plans import sqlite_plan
from tests.reports.test_currency import add_rate
from tests.reports.test_leakage import SUMMER, summer_scope, write_summer

S = CreditStatus


def bill_summer(history: History) -> None:
    """June: 1,600.00 GBP and 300.00 EUR to the team's accounts; nothing in
    July. Invoices outside the range, of no team or of another team, are
    not the team's June revenue."""
    gbp = history.account(team_id=history.team_id)
    eur = history.account(currency="EUR", team_id=history.team_id)
    invoice = history.invoice
    invoice(account_id=gbp, amount=100_000, issued="2015-06-01")
    invoice(account_id=gbp, amount=60_000, issued="2015-06-30")
    invoice(account_id=eur, amount=30_000, issued="2015-06-15", currency="EUR")
    invoice(account_id=gbp, amount=99_900, issued="2015-05-31")
    invoice(account_id=gbp, amount=99_900, issued="2015-08-01")
    invoice(account_id=history.account(), amount=99_900, issued="2015-06-10")
    other_team = make_org(history.factory).team
    invoice(account_id=history.account(team_id=other_team.id), amount=99_900,
            issued="2015-06-10")  # fmt: skip


def figures(body: dict) -> list[tuple]:
    return [
        (r["month"], r["category"], r["currency"], r["billed"], r["share_percent"])
        for r in body["tables"]["by_team_month"]
    ]


def test_posted_credits_as_a_share_of_the_team_s_billed_revenue(history, report):
    write_summer(history)
    bill_summer(history)

    body = report(history, "finance", "leakage", team=history.team_id, **SUMMER)

    # June GBP: posted 60.00 of 1,600.00 is 3.75%; compliant 10.00 is
    # 0.625%, flagged 50.00 3.125% and over cap 30.00 1.875%, half to even
    # 0.62, 3.12 and 1.88. EUR: 5.00 of 300.00 is 1.666...%, 1.67.
    # July has no invoice: no figure, not 0.
    assert figures(body) == [
        ("2015-06", "posted", "EUR", "300.00", "1.67"),
        ("2015-06", "posted", "GBP", "1600.00", "3.75"),
        ("2015-06", "compliant", "EUR", "300.00", "1.67"),
        ("2015-06", "compliant", "GBP", "1600.00", "0.62"),
        ("2015-06", "flagged", "GBP", "1600.00", "3.12"),
        ("2015-06", "near_duplicate", "GBP", "1600.00", "1.25"),
        ("2015-06", "over_cap", "GBP", "1600.00", "1.88"),
        ("2015-06", "voided", "GBP", "1600.00", "1.88"),
        ("2015-07", "posted", "GBP", None, None),
        ("2015-07", "compliant", "GBP", None, None),
    ]
    assert body["tables"]["revenue_by_team_month"] == [
        {
            "month": "2015-06",
            "team_id": history.team_id,
            "team": history.org.team.name,
            "currency": currency,
            "invoices": count,
            "billed": billed,
        }
        for currency, count, billed in (("EUR", 1, "300.00"), ("GBP", 2, "1600.00"))
    ]
    assert "null where no such invoice" in body["notes"][0]


def test_a_team_without_invoices_has_no_share_and_no_revenue(history, report):
    write_summer(history)

    body = report(history, "finance", "leakage", team=history.team_id, **SUMMER)

    assert len(figures(body)) == 10
    assert {row[3:] for row in figures(body)} == {(None, None)}
    assert body["tables"]["revenue_by_team_month"] == []


def test_a_currency_filter_keeps_the_revenue_in_that_currency(history, report):
    write_summer(history)
    bill_summer(history)

    body = report(
        history, "finance", "leakage", team=history.team_id, currency="EUR", **SUMMER
    )

    assert figures(body) == [
        ("2015-06", "posted", "EUR", "300.00", "1.67"),
        ("2015-06", "compliant", "EUR", "300.00", "1.67"),
    ]
    assert [r["currency"] for r in body["tables"]["revenue_by_team_month"]] == ["EUR"]


def test_converted_revenue_takes_the_rate_of_the_issue_day(history, report):
    # PLN is converted by no other test: rates are shared by the run.
    add_rate(history, "PLN", "GBP", "2014-01-01", "0.20")
    add_rate(history, "PLN", "GBP", "2014-03-15", "0.25")
    agent = history.org.agent
    history.credit(
        by=agent, amount=1_000, created="2014-03-02 09:00", posted="2014-03-03 09:00",
        status=S.POSTED,
    )  # fmt: skip
    history.credit(
        by=agent, amount=2_500, created="2014-03-02 09:00", posted="2014-03-20 09:00",
        currency="PLN", status=S.POSTED,
    )  # fmt: skip
    gbp = history.account(team_id=history.team_id)
    pln = history.account(currency="PLN", team_id=history.team_id)
    history.invoice(account_id=gbp, amount=40_000, issued="2014-03-01")
    history.invoice(account_id=pln, amount=100_000, issued="2014-03-14", currency="PLN")
    history.invoice(account_id=pln, amount=33_333, issued="2014-03-15", currency="PLN")
    march = {"date_from": "2014-03-01", "date_to": "2014-03-31"}

    body = report(
        history, "finance", "leakage", team=history.team_id, convert_to="GBP", **march
    )

    # Credits: 10.00 GBP + 25.00 PLN at 0.25 = 16.25 GBP. Revenue: 400.00
    # GBP + 1,000.00 PLN at 0.20 + 333.33 PLN at 0.25 = 400 + 200 + 83.3325
    # = 683.3325 GBP, shown as 683.33; the share 16.25 / 683.3325 is
    # 2.3780...%, 2.38.
    assert figures(body) == [
        ("2014-03", "posted", "GBP", "683.33", "2.38"),
        ("2014-03", "compliant", "GBP", "683.33", "2.38"),
    ]
    assert body["tables"]["revenue_by_team_month"][0]["invoices"] == 3


def test_a_junior_agent_sees_neither_revenue_nor_shares(history, report):
    write_summer(history)
    bill_summer(history)
    junior = history.org.junior
    history.credit(
        by=history.org.agent, amount=700, created="2015-06-01 09:00",
        posted="2015-06-06 09:00", status=S.POSTED, case_id=history.cases[junior.id],
    )  # fmt: skip

    body = report(history, "junior", "leakage", team=history.team_id, **SUMMER)

    assert body["amounts"] == "hidden"
    assert "revenue_by_team_month" not in body["tables"]
    rows = body["tables"]["by_team_month"]
    assert rows
    assert all("billed" not in r and "share_percent" not in r for r in rows)
    assert body["notes"] == []


def test_a_lead_sees_the_revenue_of_their_team_only(history, report):
    write_summer(history)
    bill_summer(history)
    stranger = History.new(history.factory)

    own = report(history, "lead", "leakage", team=history.team_id, **SUMMER)
    other = report(stranger, "lead", "leakage", team=history.team_id, **SUMMER)

    assert figures(own)[1] == ("2015-06", "posted", "GBP", "1600.00", "3.75")
    assert len(own["tables"]["revenue_by_team_month"]) == 2
    assert other["tables"] == {"by_team_month": [], "revenue_by_team_month": []}


def test_the_csv_carries_the_revenue_and_the_shares(history, client):
    write_summer(history)
    bill_summer(history)

    response = client.get(
        "/api/v1/reports/leakage.csv",
        params={"team": history.team_id, **SUMMER},
        headers=history.org.auth("finance"),
    )

    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text)))
    posted = [r for r in rows if r["table"] == "by_team_month"][1]
    assert (posted["billed"], posted["share_percent"]) == ("1600.00", "3.75")
    revenue = [r for r in rows if r["table"] == "revenue_by_team_month"]
    assert [(r["currency"], r["invoices"]) for r in revenue] == [
        ("EUR", "1"),
        ("GBP", "2"),
    ]


def test_unfiltered_revenue_is_read_team_by_team(history, session, report):
    # Every team at once gives each team the same revenue as asking for it
    # alone; SQLite reads it as one range of days per team.
    write_summer(history)
    bill_summer(history)

    alone = report(history, "finance", "leakage", team=history.team_id, **SUMMER)
    every = report(history, "finance", "leakage", **SUMMER)

    ours = [
        row
        for row in every["tables"]["revenue_by_team_month"]
        if row["team_id"] == history.team_id
    ]
    assert ours == alone["tables"]["revenue_by_team_month"]
    assert len(ours) == 2
    if session.get_bind().dialect.name == "sqlite":
        scope = summer_scope(session, history)
        plan = sqlite_plan(session, revenue._by_day(session, scope))
        assert "(team_id=? AND issued_on>? AND issued_on<?)" in plan
