"""How the reports phase prints: its table, its targets and its notes.

Apart from bench.report so that printing needs no DuckDB, and so that module
stays short.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from bench.reports_dashboard import MAX_DASHBOARD_MS
from bench.reports_history import MIN_HISTORY_RATE

if TYPE_CHECKING:
    from bench.reports_load import ReportsResult

# The target for one report, unfiltered over twelve months.
MAX_REPORT_P95_MS = 500.0


def reports_table(results: "list[ReportsResult]") -> Table:
    first = results[0]
    table = Table(
        title=f"Reports as finance, {first.date_from} to {first.date_to}, "
        f"unfiltered, in process; {len(first.timings[0].ours) if first.timings else 0}"
        " runs each; DuckDB over the same rows in Parquet"
    )
    table.add_column("Backend")
    table.add_column("Report", no_wrap=True)
    for name in ("p50 ms", "p95 ms", "DuckDB p50", "DuckDB p95"):
        table.add_column(name, justify="right")
    # Ours over DuckDB's: how far the report is from the floor.
    table.add_column("ratio p50", justify="right")
    table.add_column("ratio p95", justify="right")
    table.add_column("Same")
    table.add_column("Load 1m", no_wrap=True)
    for result in results:
        for timing in result.timings:
            ours50, ours95 = timing.ours_ms(0.50), timing.ours_ms(0.95)
            duck50, duck95 = timing.duck_ms(0.50), timing.duck_ms(0.95)
            table.add_row(
                result.backend,
                timing.report,
                f"{ours50:.1f}",
                f"{ours95:.1f}",
                f"{duck50:.1f}",
                f"{duck95:.1f}",
                _ratio(ours50, duck50),
                _ratio(ours95, duck95),
                "yes" if not timing.mismatches else "[bold red]NO[/]",
                result.load_1m,
            )
    return table


def _ratio(ours: float, duck: float) -> str:
    return f"{ours / duck:.1f}x" if duck > 0 else "?"


def reports_targets(
    results: "list[ReportsResult]",
    table: Table,
    verdict: Callable[..., str],
) -> None:
    for result in results:
        rate = result.generated_per_second
        table.add_row(
            "history generation",
            result.backend,
            "reused, not timed"
            if rate is None
            else f"{rate:,.0f} credits/s (load {result.generation_load})",
            f">= {MIN_HISTORY_RATE:,}/s",
            "?" if rate is None else verdict(rate >= MIN_HISTORY_RATE),
        )
        for timing in result.timings:
            p95 = timing.ours_ms(0.95)
            table.add_row(
                f"report p95, {timing.report}",
                result.backend,
                f"{p95:.1f} ms",
                f"<= {MAX_REPORT_P95_MS:.0f} ms",
                verdict(p95 <= MAX_REPORT_P95_MS),
            )
        for page in result.dashboard:
            p95 = page.ms(0.95)
            table.add_row(
                f"dashboard p95, {page.range}",
                result.backend,
                f"{p95:.1f} ms (p50 {page.ms(0.5):.1f})",
                f"< {MAX_DASHBOARD_MS:.0f} ms",
                verdict(p95 < MAX_DASHBOARD_MS and page.problem is None),
            )
        mismatched = sum(1 for timing in result.timings if timing.mismatches)
        table.add_row(
            "reports agree with DuckDB",
            result.backend,
            f"{len(result.timings) - mismatched} of {len(result.timings)}",
            "all",
            verdict(mismatched == 0),
        )


def print_reports_notes(results: "list[ReportsResult]", console: Console) -> None:
    for result in results:
        rows = ", ".join(f"{count:,} {table}" for table, count in result.rows.items())
        console.print(
            f"reports {result.backend}: {result.credits:,}-credit history "
            f"{result.history_note}; {rows} in Parquet, "
            f"{result.export_note}; load average (1, 5, 15 min) {result.load}"
        )
        for page in result.dashboard:
            if page.problem:
                console.print(f"  [bold red]dashboard[/] {page.range}: {page.problem}")
        for timing in result.timings:
            for problem in timing.mismatches:
                console.print(
                    f"  [bold red]MISMATCH[/] {timing.report} vs DuckDB: {problem}",
                    highlight=False,
                )
            if timing.query_plan:
                console.print(f"  {timing.report}: query plan")
                for line in timing.query_plan:
                    console.print(
                        f"    {line}", markup=False, highlight=False, soft_wrap=True
                    )
