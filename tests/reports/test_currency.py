"""Converted totals with dated rates, the missing-rate error, and the
administration of rates."""

import json
from datetime import date

import sqlalchemy as sa

from creditdesk.audit.models import AuditEntry
from creditdesk.db import transaction
from creditdesk.reports import rates
from creditdesk.users.models import User
from tests.factories import TEST_ACTOR
from tests.reports.history import History

FEBRUARY = {"date_from": "2016-02-01", "date_to": "2016-02-29"}


def add_rate(history: History, base: str, quote: str, day: str, rate: str) -> None:
    with transaction(history.factory) as session:
        admin = session.get(User, history.org.admin.id)
        rates.add_rate(
            session,
            admin=admin,
            base=base,
            quote=quote,
            effective_on=date.fromisoformat(day),
            rate=rate,
            actor=TEST_ACTOR,
            now=history.org.admin.created_at,
        )


def test_one_currency_asked_for_converts_with_the_rate_of_the_day(history, report):
    add_rate(history, "EUR", "GBP", "2016-01-20", "0.80")
    add_rate(history, "EUR", "GBP", "2016-02-15", "0.90")
    add_rate(history, "EUR", "GBP", "2016-03-01", "5.00")  # after the range
    agent = history.org.agent
    history.credit(by=agent, amount=1000, created="2016-02-02 09:00")
    # 3.33 EUR at 0.80 is 2.664 GBP, and 7.00 EUR at 0.90 is 6.30 GBP.
    history.credit(by=agent, amount=333, created="2016-02-14 23:59", currency="EUR")
    history.credit(by=agent, amount=700, created="2016-02-15 00:00", currency="EUR")

    query = {"team": history.team_id, **FEBRUARY}
    converted = report(history, "finance", "credits-issued", convert_to="GBP", **query)
    per_currency = report(history, "finance", "credits-issued", **query)

    assert converted["amounts"] == "converted"
    # 10.00 + 2.664 + 6.30 = 18.964, rounded once at the end: 18.96; the
    # average 6.32133... is 6.32.
    assert converted["tables"]["overall"] == [
        {"currency": "GBP", "count": 3, "total": "18.96", "average": "6.32"}
    ]
    # 10.33 / 2 = 5.165, half to even: 5.16.
    assert per_currency["tables"]["overall"] == [
        {"currency": "EUR", "count": 2, "total": "10.33", "average": "5.16"},
        {"currency": "GBP", "count": 1, "total": "10.00", "average": "10.00"},
    ]


def test_a_missing_rate_is_a_conflict_naming_the_pair_and_day(history, client):
    agent = history.org.agent
    history.credit(by=agent, amount=1000, created="2016-02-02 09:00")
    history.credit(by=agent, amount=500, created="2016-02-03 09:00", currency="USD")
    history.credit(by=agent, amount=500, created="2016-02-09 09:00", currency="USD")

    response = client.get(
        "/api/v1/reports/credits-issued",
        params={"team": history.team_id, "convert_to": "GBP", **FEBRUARY},
        headers=history.org.auth("finance"),
    )

    assert response.status_code == 409
    problem = response.json()
    assert problem["field"] == "convert_to"
    assert problem["base"] == "USD"
    assert problem["quote"] == "GBP"
    assert problem["date"] == "2016-02-03"
    assert (
        "no exchange rate from USD to GBP on or before 2016-02-03"
        in (problem["detail"])
    )


def test_a_rate_after_the_credit_does_not_convert_it(history, client):
    add_rate(history, "SEK", "GBP", "2016-02-10", "0.09")
    history.credit(
        by=history.org.agent, amount=1000, created="2016-02-09 09:00", currency="SEK"
    )
    response = client.get(
        "/api/v1/reports/leakage",
        params={"team": history.team_id, "convert_to": "GBP", **FEBRUARY},
        headers=history.org.auth("finance"),
    )
    assert response.status_code == 200  # never posted: nothing to convert
    response = client.get(
        "/api/v1/reports/credits-issued",
        params={"team": history.team_id, "convert_to": "GBP", **FEBRUARY},
        headers=history.org.auth("finance"),
    )
    assert response.status_code == 409
    assert response.json()["date"] == "2016-02-09"


def test_admins_add_and_list_rates_and_each_is_audited(client, org, session):
    body = {"base": "CHF", "quote": "GBP", "effective_on": "2013-04-01", "rate": "0.7"}
    added = client.post(
        "/api/v1/admin/exchange-rates", json=body, headers=org.auth("admin")
    )
    assert added.status_code == 201, added.text
    assert added.json()["rate"] == "0.7"

    again = client.post(
        "/api/v1/admin/exchange-rates", json=body, headers=org.auth("admin")
    )
    assert again.status_code == 409
    assert again.json()["field"] == "effective_on"

    listed = client.get(
        "/api/v1/admin/exchange-rates",
        params={"base": "CHF", "quote": "GBP"},
        headers=org.auth("admin"),
    )
    assert [r["effective_on"] for r in listed.json()["items"]] == ["2013-04-01"]
    entry = session.scalars(
        sa.select(AuditEntry).where(
            AuditEntry.entity_type == "exchange_rate",
            AuditEntry.entity_id == str(added.json()["id"]),
        )
    ).one()
    assert entry.action == "exchange_rate.add"
    assert json.loads(entry.changes)["rate"] == [None, "0.7"]


def test_bad_rates_are_refused_naming_the_field(client, org):
    def post(**changes):
        body = {"base": "CHF", "quote": "GBP", "effective_on": "2013-05-01"}
        body["rate"] = "1.5"
        return client.post(
            "/api/v1/admin/exchange-rates",
            json=body | changes,
            headers=org.auth("admin"),
        )

    for changes, field in (
        ({"rate": "0"}, "rate"),
        ({"rate": "-1"}, "rate"),
        ({"rate": "1e3"}, "rate"),
        ({"base": "XXX"}, "base"),
        ({"quote": "CHF"}, "quote"),
        ({"effective_on": "soon"}, "effective_on"),
    ):
        response = post(**changes)
        assert response.status_code == 422, changes
        assert response.json()["field"] == field, changes


def test_only_administrators_keep_rates(client, org):
    body = {"base": "CHF", "quote": "GBP", "effective_on": "2013-06-01", "rate": "1"}
    for who in ("finance", "lead"):
        response = client.post(
            "/api/v1/admin/exchange-rates", json=body, headers=org.auth(who)
        )
        assert response.status_code == 403, who
        listed = client.get("/api/v1/admin/exchange-rates", headers=org.auth(who))
        assert listed.status_code == 403, who
