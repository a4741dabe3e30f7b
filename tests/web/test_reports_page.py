"""The reports dashboard: charts with their numbers beside, filters, access."""

import re

from creditdesk.credits.models import CreditStatus
from tests.reports.history import History
from tests.web.support import person_for

JANUARY = {"date_from": "2015-01-01", "date_to": "2015-01-31"}


def write(history: History) -> None:
    agent = history.org.agent
    history.credit(
        by=agent,
        amount=1234,
        created="2015-01-05 10:00",
        posted="2015-01-06 10:00",
        status=CreditStatus.POSTED,
    )
    history.credit(
        by=history.agent_2,
        amount=766,
        created="2015-01-07 10:00",
        posted="2015-01-08 10:00",
        status=CreditStatus.VOIDED,
    )


def test_finance_sees_each_report_as_a_chart_and_a_table(client_for, session_factory):
    history = History.new(session_factory)
    write(history)
    finance = person_for(session_factory, history.org.finance)

    page = client_for(finance).get(
        "/reports", params={"team": history.team_id, **JANUARY}
    )

    assert page.status_code == 200
    assert page.text.count('<svg class="chart"') == 5
    for heading in (
        "Credits issued by team",
        "Share of credits needing approval",
        "Billing cases resolved",
        "Credits posted: compliant and flagged",
        "Return on investment",
    ):
        assert heading in page.text
    # The team's two credits: 12.34 + 7.66 GBP, one of them flagged (voided).
    assert "20.00" in page.text
    assert "1 flagged" in page.text
    assert (
        f"/api/v1/reports/leakage.xlsx?date_from=2015-01-01&amp;date_to=2015-01-31&amp;team={history.team_id}"
        in page.text
    )
    assert "<script>" not in page.text and "style=" not in page.text


def test_a_bad_filter_is_shown_next_to_its_field(client_for, session_factory):
    history = History.new(session_factory)
    lead = person_for(session_factory, history.org.lead)
    page = client_for(lead).get(
        "/reports", params={"date_from": "2015-02-01", "date_to": "2015-01-01"}
    )
    assert page.status_code == 422
    assert re.search(r'id="date_to-error">[^<]*before', page.text)
    assert 'aria-invalid="true"' in page.text

    page = client_for(lead).get("/reports", params={"convert_to": "XYZ"})
    assert page.status_code == 422
    assert 'id="convert_to-error"' in page.text


def test_a_missing_rate_is_explained_not_guessed(client_for, session_factory):
    history = History.new(session_factory)
    history.credit(
        by=history.org.agent, amount=500, created="2015-01-05 10:00", currency="NOK"
    )
    finance = person_for(session_factory, history.org.finance)
    page = client_for(finance).get(
        "/reports", params={"team": history.team_id, "convert_to": "GBP", **JANUARY}
    )
    assert page.status_code == 422
    assert "no exchange rate from NOK to GBP on or before 2015-01-05" in page.text


def test_the_lead_sees_their_team_and_agents_have_no_reports(
    client_for, session_factory
):
    history = History.new(session_factory)
    write(history)
    other = History.new(session_factory)
    other.credit(by=other.org.agent, amount=99_999, created="2015-01-05 10:00")

    lead = person_for(session_factory, history.org.lead)
    page = client_for(lead).get("/reports", params=JANUARY)
    assert page.status_code == 200
    assert history.org.team.name in page.text
    assert other.org.team.name not in page.text.split("<table")[1]
    assert "999.99" not in page.text

    agent = person_for(session_factory, history.org.agent)
    assert client_for(agent).get("/reports").status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in(client_for):
    page = client_for(None).get("/reports", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/sign-in")


def test_the_leakage_panel_shows_each_team_s_share_of_billed_revenue(
    client_for, session_factory
):
    history = History.new(session_factory)
    write(history)
    account = history.account(team_id=history.team_id)
    history.invoice(account_id=account, amount=80_000, issued="2015-01-01")
    finance = person_for(session_factory, history.org.finance)

    page = client_for(finance).get(
        "/reports", params={"team": history.team_id, **JANUARY}
    )

    assert "Posted credits as a share of billed revenue" in page.text
    # 20.00 of 800.00 GBP is 2.50%.
    cells = re.sub(r"\s+", " ", page.text)
    assert '<td class="num">20.00</td> <td class="num">800.00</td> ' in cells
    assert '<td class="num">2.50</td>' in cells


def test_agent_product_reason_and_currency_narrow_every_panel(
    client_for, session_factory
):
    history = History.new(session_factory)
    write(history)
    agent = history.org.agent
    history.credit(
        by=agent,
        amount=4321,
        created="2015-01-09 10:00",
        reason="goodwill",
        product="mobile",
        currency="EUR",
    )
    finance = person_for(session_factory, history.org.finance)

    def page(**params):
        query = {"team": history.team_id, **JANUARY, **params}
        return client_for(finance).get("/reports", params=query)

    by_agent = page(agent=agent.id)
    assert by_agent.status_code == 200
    assert "12.34" in by_agent.text and "43.21" in by_agent.text
    assert "7.66" not in by_agent.text and "20.00" not in by_agent.text
    # The full reports' links carry the same filters.
    assert (
        f"leakage.csv?date_from=2015-01-01&amp;date_to=2015-01-31&amp;team={history.team_id}&amp;agent={agent.id}"
        in by_agent.text
    )
    assert f'<option value="{agent.id}" selected>' in by_agent.text

    for narrowed in (
        page(reason="goodwill"),
        page(product="mobile"),
        page(currency="eur"),
    ):
        assert narrowed.status_code == 200
        assert "43.21" in narrowed.text
        assert "12.34" not in narrowed.text and "7.66" not in narrowed.text


def test_an_unknown_agent_or_currency_is_shown_next_to_its_field(
    client_for, session_factory
):
    history = History.new(session_factory)
    finance = person_for(session_factory, history.org.finance)
    web = client_for(finance)

    for params, field in (
        ({"agent": "someone"}, "agent"),
        ({"agent": "999999999"}, "agent"),
        ({"currency": "XYZ"}, "currency"),
    ):
        page = web.get("/reports", params=params)
        assert page.status_code == 422, params
        assert f'id="{field}-error"' in page.text


def test_a_lead_chooses_among_the_agents_of_their_own_line(client_for, session_factory):
    history = History.new(session_factory)
    other = History.new(session_factory)
    lead = person_for(session_factory, history.org.lead)
    finance = person_for(session_factory, history.org.finance)

    def agent_options(person) -> str:
        page = client_for(person).get("/reports", params=JANUARY)
        return page.text.split('id="agent"')[1].split("</select>")[0]

    ours = agent_options(lead)
    assert f'value="{history.org.agent.id}"' in ours
    assert f'value="{other.org.agent.id}"' not in ours
    assert f'value="{other.org.agent.id}"' in agent_options(finance)
