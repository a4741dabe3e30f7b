"""The five reports computed again in DuckDB over the exported Parquet files.

Written from the definitions in docs/reports.md, not from the reports' code,
so the two can check each other: the rows come out in the JSON shape of a
finance caller's unfiltered, unconverted report (names of teams and agents
left out), ready to compare. Percentiles are nearest-rank: the value at
1-based rank ceil(p * n / 100) of the group's sorted values.
"""

from collections.abc import Callable
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import duckdb

from creditdesk.money import currency_exponent

Rows = list[dict[str, Any]]
Tables = dict[str, Rows]

ISSUED = ("approved", "posting", "posted", "applied", "posting_failed")
ISSUED += ("voiding", "voided")
DAY_SECONDS = 86_400

_SECONDS = "CAST(floor(epoch({end})) AS BIGINT) - CAST(floor(epoch({start})) AS BIGINT)"
_RANKED = (
    "CASE WHEN count({v}) > 0 THEN list_sort(list({v}) FILTER ({v} IS NOT NULL))"
    "[(count({v}) * {p} + 99) // 100] END"
)


def seconds(start: str, end: str) -> str:
    return _SECONDS.format(start=start, end=end)


def ranked(value: str, percent: int) -> str:
    return _RANKED.format(v=value, p=percent)


def open_views(duck: duckdb.DuckDBPyConnection, directory: Path) -> None:
    """A view per exported table, each reading its Parquet file."""
    for path in sorted(directory.glob("*.parquet")):
        duck.execute(
            f"CREATE OR REPLACE VIEW {path.stem} AS "
            f"SELECT * FROM read_parquet('{path}')"
        )


class Reference:
    """The reports over one range, ``start`` included, ``end`` excluded."""

    def __init__(
        self,
        duck: duckdb.DuckDBPyConnection,
        *,
        start: datetime,
        end: datetime,
        baselines: Any,
    ) -> None:
        self.duck = duck
        self.range = {"start": start, "end": end}
        self.days = (end - start).days
        self.baselines = baselines
        self.reports: dict[str, Callable[[], Tables]] = {
            "credits-issued": self.credits_issued,
            "approval-share": self.approval_share,
            "resolution-time": self.resolution_time,
            "leakage": self.leakage,
            "roi": self.roi,
        }

    def _rows(self, sql: str) -> list[tuple]:
        return self.duck.execute(sql, self.range).fetchall()

    def credits_issued(self) -> Tables:
        statuses = ", ".join(f"'{s}'" for s in ISSUED)
        rows = self._rows(
            "SELECT grouping(team_id), grouping(requested_by_id), grouping(reason), "
            "grouping(product), team_id, requested_by_id, reason, product, currency, "
            "count(*), sum(amount_minor) FROM credits "
            f"WHERE status IN ({statuses}) "
            "AND created_at >= $start AND created_at < $end "
            "GROUP BY GROUPING SETS ((currency), (team_id, currency), "
            "(requested_by_id, currency), (reason, currency), (product, currency))"
        )
        tables: Tables = {name: [] for name in ("overall", "by_team", "by_agent")}
        tables |= {"by_reason": [], "by_product": []}
        named = (
            ("by_team", "team_id"),
            ("by_agent", "agent_id"),
            ("by_reason", "reason"),
            ("by_product", "product"),
        )
        for row in rows:
            flags, keys, (currency, count, total) = row[:4], row[4:8], row[8:]
            figures = amounts(currency, count, total)
            grouped = [i for i, flag in enumerate(flags) if flag == 0]
            if not grouped:
                tables["overall"].append(figures)
                continue
            table, column = named[grouped[0]]
            tables[table].append({column: keys[grouped[0]]} | figures)
        return tables

    def approval_share(self) -> Tables:
        def in_range(c: str) -> str:
            return (
                f"{c}status <> 'draft' AND {c}created_at >= $start "
                f"AND {c}created_at < $end"
            )

        wait = seconds("f.requested_at", "c.decided_at")
        rows = self._rows(
            "WITH raised AS (SELECT team_id, strftime(created_at, '%Y-%m') AS month, "
            f"count(*) AS credits FROM credits WHERE {in_range('')} GROUP BY ALL), "
            "firsts AS (SELECT credit_id, min(created_at) AS requested_at "
            "FROM approvals GROUP BY credit_id), "
            "waits AS (SELECT c.team_id, strftime(c.created_at, '%Y-%m') AS month, "
            f"{wait} AS seconds FROM credits c JOIN firsts f ON f.credit_id = c.id "
            f"WHERE {in_range('c.')}), "
            "spreads AS (SELECT team_id, month, count(*) AS needing, "
            f"count(seconds) AS decided, {ranked('seconds', 50)} AS median, "
            f"{ranked('seconds', 90)} AS p90 FROM waits GROUP BY ALL) "
            "SELECT r.month, r.team_id, r.credits, coalesce(s.needing, 0), "
            "coalesce(s.decided, 0), s.median, s.p90 FROM raised r "
            "LEFT JOIN spreads s ON s.month = r.month "
            "AND s.team_id IS NOT DISTINCT FROM r.team_id"
        )
        table = [
            {
                "month": month,
                "team_id": team,
                "credits": credits,
                "needing_approval": needing,
                "share_percent": two_places(Decimal(needing * 100) / credits),
                "decided": decided,
                "turnaround_median_seconds": median,
                "turnaround_p90_seconds": p90,
            }
            for month, team, credits, needing, decided, median, p90 in rows
        ]
        return {"by_team_month": table}

    def resolution_time(self) -> Tables:
        rows = self._rows(
            "WITH resolved AS (SELECT team_id, "
            "strftime(date_trunc('week', resolved_at), '%Y-%m-%d') AS week, "
            f"{seconds('opened_at', 'resolved_at')} AS seconds FROM cases "
            f"WHERE {self._billing_resolved()}) "
            "SELECT week, team_id, count(*), sum(seconds), "
            f"{ranked('seconds', 50)}, {ranked('seconds', 90)} "
            "FROM resolved GROUP BY ALL"
        )
        table = [
            {
                "week": week,
                "team_id": team,
                "resolved": count,
                "median_seconds": median,
                "p90_seconds": p90,
                "mean_seconds": int(whole(Decimal(total) / count)),
            }
            for week, team, count, total, median, p90 in rows
        ]
        return {"by_team_week": table}

    def leakage(self) -> Tables:
        flagged = "near_duplicate OR over_cap OR status IN ('voiding', 'voided')"
        categories = (
            "['posted', "
            f"CASE WHEN {flagged} THEN 'flagged' ELSE 'compliant' END, "
            "CASE WHEN near_duplicate THEN 'near_duplicate' END, "
            "CASE WHEN over_cap THEN 'over_cap' END, "
            "CASE WHEN status IN ('voiding', 'voided') THEN 'voided' END]"
        )
        rows = self._rows(
            "WITH tagged AS (SELECT strftime(posted_at, '%Y-%m') AS month, team_id, "
            "currency, amount_minor, unnest(list_filter("
            f"{categories}, lambda c: c IS NOT NULL)) AS category FROM credits "
            "WHERE posted_at >= $start AND posted_at < $end) "
            "SELECT month, team_id, category, currency, count(*), sum(amount_minor) "
            "FROM tagged GROUP BY ALL"
        )
        table = [
            {"month": month, "team_id": team, "category": category}
            | amounts(currency, count, total)
            for month, team, category, currency, count, total in rows
        ]
        return {"by_team_month": table}

    def roi(self) -> Tables:
        ((count, total),) = self._rows(
            f"SELECT count(*), sum({seconds('opened_at', 'resolved_at')}) "
            f"FROM cases WHERE {self._billing_resolved()}"
        )
        days_value = Decimal(total) / count / DAY_SECONDS if count else None
        errors = self._errors()
        per_month = Decimal(sum(r["total"] for r in errors) * 365) / (12 * self.days)
        summary = [
            {"measure": "resolution_days", "value": maybe(two_places, days_value)},
            {"measure": "manual_errors_per_month", "value": two_places(per_month)},
            {
                "measure": "cases_per_agent_per_working_day",
                "value": maybe(two_places, self._productivity()),
            },
        ]
        return {
            "summary": summary,
            "manual_errors_by_month": errors,
            "untracked_per_year": self._untracked(),
        }

    def _billing_resolved(self) -> str:
        return (
            "type = 'billing_dispute' AND resolved_at >= $start AND resolved_at < $end"
        )

    def _productivity(self) -> Decimal | None:
        ((resolved, agents),) = self._rows(
            "SELECT count(*), count(DISTINCT owner_id) FROM cases "
            "WHERE resolved_at >= $start AND resolved_at < $end"
        )
        ((working,),) = self._rows(
            "SELECT count(*) FROM range($start, $end, INTERVAL 1 DAY) AS t(day) "
            "WHERE isodow(day) <= 5"
        )
        return Decimal(resolved) / (agents * working) if agents and working else None

    def _errors(self) -> Rows:
        rows = self._rows(
            "SELECT month, sum(failed)::BIGINT, sum(mismatched)::BIGINT FROM ("
            "SELECT strftime(w.assigned_at, '%Y-%m') AS month, 1 AS failed, "
            "0 AS mismatched FROM work_items w JOIN credits c ON c.id = w.credit_id "
            "WHERE w.kind = 'posting_failed' "
            "AND w.assigned_at >= $start AND w.assigned_at < $end "
            "UNION ALL SELECT strftime(r.started_at, '%Y-%m'), 0, 1 FROM findings f "
            "JOIN runs r ON r.id = f.run_id JOIN credits c ON c.id = f.credit_id "
            "WHERE f.kind = 'mismatched' "
            "AND r.started_at >= $start AND r.started_at < $end) "
            "GROUP BY month"
        )
        return [
            {
                "month": month,
                "posting_failures": failed,
                "reconciliation_mismatches": mismatched,
                "total": failed + mismatched,
            }
            for month, failed, mismatched in rows
        ]

    def _untracked(self) -> Rows:
        rows = self._rows(
            "SELECT f.vendor_currency, count(*), sum(f.vendor_amount_minor) "
            "FROM findings f JOIN runs r ON r.id = f.run_id "
            "WHERE f.kind = 'untracked' AND f.vendor_amount_minor IS NOT NULL "
            "AND r.status = 'completed' "
            "AND r.started_at >= $start AND r.started_at < $end GROUP BY ALL"
        )
        return [
            {
                "currency": currency,
                "findings": count,
                "found": money(total, currency),
                "per_year": money(whole(Decimal(total * 365) / self.days), currency),
            }
            for currency, count, total in rows
        ]


def amounts(currency: str, count: int, total: int) -> dict[str, Any]:
    return {
        "currency": currency,
        "count": count,
        "total": money(total, currency),
        "average": money(whole(Decimal(total) / count), currency),
    }


def money(minor: int | Decimal, currency: str) -> str:
    """Minor units as the decimal text of the major unit ("10.50")."""
    return str(Decimal(int(minor)).scaleb(-currency_exponent(currency)))


def whole(value: Decimal) -> Decimal:
    return value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN)


def two_places(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN))


def maybe(format_: Callable[[Decimal], str], value: Decimal | None) -> str | None:
    return None if value is None else format_(value)
