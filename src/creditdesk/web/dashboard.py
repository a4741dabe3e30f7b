"""The reports dashboard's panels: each report's figures summed up for a
chart and the table beside it, which shows the same numbers."""

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from markupsafe import Markup

from creditdesk.reports import rounding
from creditdesk.reports.approval_share import percent
from creditdesk.reports.scope import Report
from creditdesk.web.charts import Bar, bar_chart


@dataclass
class Panel:
    """A chart and its table: ``columns`` are (key, heading, numeric)."""

    name: str
    title: str
    chart: Markup
    columns: list[tuple[str, str, bool]]
    rows: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None
    # A second table of finer figures, under its own caption.
    detail_title: str | None = None
    detail_columns: list[tuple[str, str, bool]] = field(default_factory=list)
    detail_rows: list[dict[str, Any]] = field(default_factory=list)


def issued_panel(report: Report) -> Panel:
    counts: dict[str, int] = defaultdict(int)
    for row in report.tables["by_team"]:
        counts[row["team"] or "No team"] += row["count"]
    bars = [Bar(team, [n], str(n)) for team, n in counts.items()]
    columns = [("team", "Team", False)]
    if report.scope.amounts:
        columns.append(("currency", "Currency", False))
    columns.append(("count", "Credits", True))
    if report.scope.amounts:
        columns += [("total", "Total", True), ("average", "Average", True)]
    rows = [
        row | {"team": row["team"] or "No team"} for row in report.tables["by_team"]
    ]
    return Panel(
        "credits-issued",
        "Credits issued by team",
        bar_chart("Credits issued by team", bars, ["credits"]),
        columns,
        rows,
    )


def approval_panel(report: Report) -> Panel:
    months: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in report.tables["by_team_month"]:
        months[row["month"]][0] += row["credits"]
        months[row["month"]][1] += row["needing_approval"]
    rows = [
        {
            "month": month,
            "credits": credits,
            "needing_approval": needing,
            "share_percent": percent(needing, credits),
        }
        for month, (credits, needing) in sorted(months.items())
    ]
    bars = [
        Bar(
            r["month"],
            [Decimal(r["share_percent"] or 0)],
            _percent_text(r, "share_percent"),
        )
        for r in rows
    ]
    return Panel(
        "approval-share",
        "Share of credits needing approval",
        bar_chart("Share of credits needing approval, by month", bars, ["share"]),
        [
            ("month", "Month", False),
            ("credits", "Credits", True),
            ("needing_approval", "Needing approval", True),
            ("share_percent", "Share %", True),
        ],
        rows,
        note="Turnaround (median and p90 per team and month) is in the full report.",
    )


def resolution_panel(report: Report) -> Panel:
    weeks: dict[str, int] = defaultdict(int)
    for row in report.tables["by_team_week"]:
        weeks[row["week"]] += row["resolved"]
    rows = [{"week": w, "resolved": n} for w, n in sorted(weeks.items())]
    bars = [Bar(r["week"], [r["resolved"]], str(r["resolved"])) for r in rows]
    return Panel(
        "resolution-time",
        "Billing cases resolved",
        bar_chart("Billing cases resolved, by week", bars, ["resolved"]),
        [("week", "Week of", False), ("resolved", "Resolved", True)],
        rows,
        note="Median, p90 and mean time to resolution per team and week are in "
        "the full report.",
    )


_LEAK = ("posted", "compliant", "flagged", "near_duplicate", "over_cap", "voided")


def leakage_panel(report: Report) -> Panel:
    months: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_LEAK, 0))
    for row in report.tables["by_team_month"]:
        months[row["month"]][row["category"]] += row["count"]
    rows = [{"month": m} | counts for m, counts in sorted(months.items())]
    bars = [
        Bar(r["month"], [r["compliant"], r["flagged"]], f"{r['flagged']} flagged")
        for r in rows
    ]
    panel = Panel(
        "leakage",
        "Credits posted: compliant and flagged",
        bar_chart("Credits posted by month", bars, ["compliant", "flagged"]),
        [("month", "Month", False)]
        + [(name, name.replace("_", " ").capitalize(), True) for name in _LEAK],
        rows,
        note=report.notes[0] if report.notes else None,
    )
    if "revenue_by_team_month" in report.tables:
        _add_shares(panel, report)
    return panel


def _add_shares(panel: Panel, report: Report) -> None:
    # The report's own figures per team, month and currency: adding shares
    # up across teams or currencies would need the unrounded totals.
    panel.detail_title = "Posted credits as a share of billed revenue"
    panel.detail_columns = [
        ("month", "Month", False),
        ("team", "Team", False),
        ("currency", "Currency", False),
        ("total", "Posted", True),
        ("billed", "Billed", True),
        ("share_percent", "Share %", True),
    ]
    panel.detail_rows = [
        row | {"team": row["team"] or "No team"}
        for row in report.tables["by_team_month"]
        if row["category"] == "posted"
    ]


def roi_panel(report: Report) -> Panel:
    rows = []
    for row in report.tables["summary"]:
        value, baseline = row["value"], Decimal(row["baseline"])
        share = percent_of(Decimal(value), baseline) if value and baseline else None
        name = row["measure"].replace("_", " ").capitalize()
        rows.append(row | {"measure": name, "of_baseline": share})
    bars = [
        Bar(r["measure"], [Decimal(r["of_baseline"] or 0)], _percent_text(r))
        for r in rows
    ]
    return Panel(
        "roi",
        "Return on investment",
        bar_chart("Each measure as a percentage of its baseline", bars, ["value"]),
        [
            ("measure", "Measure", False),
            ("unit", "Unit", False),
            ("value", "Value", True),
            ("baseline", "Baseline", True),
            ("difference", "Difference", True),
            ("of_baseline", "% of baseline", True),
        ],
        rows,
    )


def _percent_text(row: dict[str, Any], key: str = "of_baseline") -> str:
    share = row[key]
    return f"{share}%" if share is not None else "no figure"


def percent_of(value: Decimal, baseline: Decimal) -> str:
    """``value`` as a percentage of ``baseline``, two places, half to even."""
    share = value * 100 / baseline
    return rounding.two_places(share)


PANELS = {
    "credits-issued": issued_panel,
    "approval-share": approval_panel,
    "resolution-time": resolution_panel,
    "leakage": leakage_panel,
    "roi": roi_panel,
}
