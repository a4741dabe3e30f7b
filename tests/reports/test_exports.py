"""CSV and XLSX carry the same rows as the JSON."""

import csv
import io
from decimal import Decimal

import openpyxl

from tests.reports.test_issued import JANUARY, write_january


def fetch(client, history, suffix: str, **params):
    query = {"team": history.team_id, **JANUARY, **params}
    return client.get(
        f"/api/v1/reports/credits-issued{suffix}",
        params=query,
        headers=history.org.auth("finance"),
    )


def test_csv_round_trip(history, client):
    write_january(history)
    tables = fetch(client, history, "").json()["tables"]

    response = fetch(client, history, ".csv")

    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="credits-issued.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    for name, expected in tables.items():
        got = [r for r in rows if r["table"] == name]
        assert len(got) == len(expected), name
        for row, want in zip(got, expected, strict=True):
            for column, value in want.items():
                assert row[column] == ("" if value is None else str(value)), column


def test_xlsx_round_trip(history, client):
    write_january(history)
    tables = fetch(client, history, "").json()["tables"]

    response = fetch(client, history, ".xlsx")

    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True)
    assert book.sheetnames == list(tables)
    for name, expected in tables.items():
        sheet = list(book[name].iter_rows(values_only=True))
        header, rows = list(sheet[0]), sheet[1:]
        assert header == list(expected[0])
        assert len(rows) == len(expected)
        for row, want in zip(rows, expected, strict=True):
            for column, value in zip(header, row, strict=True):
                if column in {"total", "average"}:
                    # A spreadsheet number, written from the exact text.
                    assert Decimal(str(value)) == Decimal(want[column])
                else:
                    assert value == want[column], column


def test_a_converted_report_exports_too(history, client):
    write_january(history)
    response = fetch(client, history, ".csv", currency="GBP", convert_to="GBP")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    overall = [r for r in rows if r["table"] == "overall"]
    assert [(r["currency"], r["count"], r["total"]) for r in overall] == [
        ("GBP", "3", "35.01")
    ]


def test_text_that_looks_like_a_formula_stays_text(history, client):
    formula = '=HYPERLINK("https://example.test","x")'
    history.credit(
        by=history.org.agent, amount=100, created="2015-01-10 10:00", product=formula
    )
    response = fetch(client, history, ".xlsx")
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    cells = [row[0] for row in book["by_product"].iter_rows(min_row=2)]
    assert [(c.value, c.data_type) for c in cells] == [(formula, "s")]


def test_text_that_looks_like_a_formula_is_quoted_in_csv(history, client):
    formula = '=HYPERLINK("https://example.test","x")'
    history.credit(
        by=history.org.agent, amount=100, created="2015-01-10 10:00", product=formula
    )
    response = fetch(client, history, ".csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    products = [r["product"] for r in rows if r["table"] == "by_product"]
    assert products == [f"'{formula}"]
