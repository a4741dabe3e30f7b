"""ROI figures beside their baselines, by hand."""

from decimal import Decimal

import pytest
from pydantic import ValidationError

from creditdesk.cases.models import CaseType
from creditdesk.reconciliation.models import FindingKind
from creditdesk.reports.settings import RoiBaselines
from tests.reports.history import History, reconciliation_run

AUGUST = {"date_from": "2015-08-01", "date_to": "2015-08-31"}
# March 2014: untracked value is organisation-wide, so it has a month alone.
MARCH = {"date_from": "2014-03-01", "date_to": "2014-03-31"}


def write_august(history: History) -> None:
    a1, a2, case = history.org.agent, history.agent_2, history.case
    case(owner=a1, opened="2015-08-03 09:00", resolved="2015-08-04 09:00")
    case(owner=a1, opened="2015-08-03 09:00", resolved="2015-08-05 09:00")
    case(
        owner=a2,
        opened="2015-08-10 09:00",
        resolved="2015-08-10 10:00",
        type=CaseType.SERVICE_ISSUE,
    )
    failed = history.credit(by=a1, amount=100, created="2015-07-30 09:00")
    history.posting_failure(failed, assigned="2015-08-03 10:00")
    history.posting_failure(failed, assigned="2015-08-20 10:00")
    history.posting_failure(failed, assigned="2015-09-01 00:00")  # after
    reconciliation_run(
        history.factory,
        started="2015-08-10 02:00",
        findings=[{"kind": FindingKind.MISMATCHED, "credit_id": failed}],
    )


def summary(body: dict) -> dict[str, dict]:
    return {row["measure"]: row for row in body["tables"]["summary"]}


def test_measures_beside_the_default_baselines(history, report):
    write_august(history)

    body = report(history, "finance", "roi", team=history.team_id, **AUGUST)

    measures = summary(body)
    # One day and two days: a mean of 1.5 days.
    assert measures["resolution_days"] == {
        "measure": "resolution_days",
        "unit": "days",
        "value": "1.50",
        "baseline": "2.50",
        "difference": "-1.00",
    }
    # Three errors in 31 days: 3 * 365 / (12 * 31) = 2.94 a month.
    assert measures["manual_errors_per_month"]["value"] == "2.94"
    assert measures["manual_errors_per_month"]["baseline"] == "15.00"
    # Three cases by two agents over 21 working days: 0.07 a day.
    assert measures["cases_per_agent_per_working_day"]["value"] == "0.07"
    assert measures["cases_per_agent_per_working_day"]["baseline"] == "8.00"
    assert body["tables"]["manual_errors_by_month"] == [
        {
            "month": "2015-08",
            "posting_failures": 2,
            "reconciliation_mismatches": 1,
            "total": 3,
        }
    ]
    # Narrowed to a team: the organisation's untracked value is left out.
    assert "untracked_per_year" not in body["tables"]


def test_untracked_value_a_year_per_currency(history, report):
    reconciliation_run(
        history.factory,
        started="2014-03-05 02:00",
        findings=[
            {"vendor_amount_minor": 10_000, "vendor_currency": "GBP"},
            {"vendor_amount_minor": 5_000, "vendor_currency": "GBP"},
            {"vendor_amount_minor": 1_000, "vendor_currency": "EUR"},
        ],
    )

    body = report(history, "finance", "roi", **MARCH)

    # 150.00 in 31 days is 150.00 * 365 / 31 = 1,766.13 a year.
    assert body["tables"]["untracked_per_year"] == [
        {
            "currency": "EUR",
            "findings": 1,
            "found": "10.00",
            "per_year": "117.74",
            "baseline_per_year": "20000.00",
            "baseline_currency": "GBP",
            "difference": None,
        },
        {
            "currency": "GBP",
            "findings": 2,
            "found": "150.00",
            "per_year": "1766.13",
            "baseline_per_year": "20000.00",
            "baseline_currency": "GBP",
            "difference": "-18233.87",
        },
    ]
    for who in ("lead", "junior"):
        assert (
            "untracked_per_year" not in report(history, who, "roi", **MARCH)["tables"]
        )


def test_baselines_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CREDITDESK_ROI_RESOLUTION_DAYS", "3.25")
    monkeypatch.setenv("CREDITDESK_ROI_UNTRACKED_PER_YEAR", "15000.50")
    baselines = RoiBaselines()
    assert baselines.resolution_days == Decimal("3.25")
    assert baselines.untracked_minor_per_year == 1_500_050
    assert baselines.manual_errors_per_month == Decimal(15)
    assert baselines.cases_per_agent_day == Decimal(8)


def test_a_bad_baseline_is_refused_when_read(monkeypatch):
    monkeypatch.setenv("CREDITDESK_ROI_UNTRACKED_PER_YEAR", "20000.005")
    with pytest.raises(ValidationError, match="untracked_per_year"):
        RoiBaselines()
