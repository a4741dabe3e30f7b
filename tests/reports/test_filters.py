"""Bad filters are a 422 naming the filter; an unknown report a 404."""

import pytest

CASES = [
    ({"team": "abc"}, "team"),
    ({"team": "999999999"}, "team"),
    ({"agent": "999999999"}, "agent"),
    ({"date_from": "2015-02-01", "date_to": "2015-01-01"}, "date_to"),
    ({"date_from": "yesterday"}, "date_from"),
    ({"date_from": "2010-01-01", "date_to": "2015-01-01"}, "date_from"),
    ({"currency": "XXX"}, "currency"),
    ({"convert_to": "gbp"}, "convert_to"),
    ({"convert_to": "GBPX"}, "convert_to"),
    ({"product": " "}, "product"),
]


@pytest.mark.parametrize("name", ["credits-issued", "roi"])
@pytest.mark.parametrize(("params", "field"), CASES)
def test_a_bad_filter_names_itself(client, org, name, params, field):
    response = client.get(
        f"/api/v1/reports/{name}", params=params, headers=org.auth("finance")
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == field


def test_an_unknown_report_is_not_found(client, org):
    for suffix in ("", ".csv", ".xlsx"):
        response = client.get(
            f"/api/v1/reports/nonsense{suffix}", headers=org.auth("finance")
        )
        assert response.status_code == 404


def test_the_index_lists_every_report(client, org):
    response = client.get("/api/v1/reports", headers=org.auth("agent"))
    assert [r["name"] for r in response.json()] == [
        "credits-issued",
        "approval-share",
        "resolution-time",
        "leakage",
        "roi",
    ]
    assert response.json()[0]["csv"] == "/api/v1/reports/credits-issued.csv"


def test_signed_out_callers_get_nothing(client):
    assert client.get("/api/v1/reports/leakage").status_code == 401
