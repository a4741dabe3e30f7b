"""Reports count only what the caller may see, and show amounts only to
those who may see them."""

import csv
import io

from creditdesk.access import fields
from creditdesk.access.models import FieldLevel
from creditdesk.db import transaction
from tests.factories import TEST_ACTOR, now
from tests.reports.history import History

JANUARY = {"date_from": "2015-01-01", "date_to": "2015-01-31"}
NAMES = ("credits-issued", "approval-share", "resolution-time", "leakage", "roi")


def write(history: History, other: History) -> None:
    # Ours: one by each agent under the lead, one on the junior's case.
    history.credit(by=history.org.agent, amount=1000, created="2015-01-05 10:00")
    history.credit(by=history.agent_2, amount=2000, created="2015-01-06 10:00")
    history.credit(
        by=history.org.agent,
        amount=400,
        created="2015-01-07 10:00",
        case_id=history.cases[history.org.junior.id],
    )
    # Another team's, in the same month.
    other.credit(by=other.org.agent, amount=9000, created="2015-01-05 10:00")


def overall(body: dict) -> list[tuple]:
    return [tuple(r.values()) for r in body["tables"]["overall"]]


def test_a_team_lead_sees_their_line_only(history, session_factory, report):
    other = History.new(session_factory)
    write(history, other)

    body = report(history, "lead", "credits-issued", **JANUARY)

    assert overall(body) == [("GBP", 3, "34.00", "11.33")]
    teams = {r["team_id"] for r in body["tables"]["by_team"]}
    assert teams == {history.team_id}
    # Naming the other team does not reveal it.
    narrowed = report(history, "lead", "credits-issued", team=other.team_id, **JANUARY)
    assert narrowed["tables"]["overall"] == []


def test_finance_and_auditors_see_every_team(history, session_factory, report):
    other = History.new(session_factory)
    write(history, other)
    for who in ("finance", "auditor"):
        for team, expected in ((history.team_id, 3), (other.team_id, 1)):
            body = report(history, who, "credits-issued", team=team, **JANUARY)
            assert overall(body)[0][1] == expected, (who, team)


def test_a_junior_agent_sees_counts_and_never_amounts(
    history, session_factory, report, client
):
    other = History.new(session_factory)
    write(history, other)

    body = report(history, "junior", "credits-issued", **JANUARY)

    assert body["amounts"] == "hidden"
    # Only the credit on their own case, and no amount anywhere.
    assert body["tables"]["overall"] == [{"count": 1}]
    for name in NAMES:
        text = client.get(
            f"/api/v1/reports/{name}",
            params=JANUARY,
            headers=history.org.auth("junior"),
        ).text
        assert '"total"' not in text and '"average"' not in text, name
        assert "4.00" not in text, name
    exported = client.get(
        "/api/v1/reports/credits-issued.csv",
        params=JANUARY,
        headers=history.org.auth("junior"),
    )
    header = next(csv.reader(io.StringIO(exported.text)))
    assert "total" not in header and "currency" not in header


def test_amounts_follow_the_field_level_not_the_role_name(history, report):
    write(history, History.new(history.factory))
    with transaction(history.factory) as session:
        fields.set_level(
            session,
            role="auditor",
            entity="credit",
            field="amount",
            level=FieldLevel.HIDDEN,
            actor=TEST_ACTOR,
            now=now(),
        )
    try:
        body = report(
            history, "auditor", "credits-issued", team=history.team_id, **JANUARY
        )
        assert body["amounts"] == "hidden"
        assert body["tables"]["overall"] == [{"count": 3}]
    finally:
        with transaction(history.factory) as session:
            fields.reset_level(
                session,
                role="auditor",
                entity="credit",
                field="amount",
                actor=TEST_ACTOR,
                now=now(),
            )
