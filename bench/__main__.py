"""``python -m bench``: API throughput against one server, the credit list
over a large history, audit verify, billing (posting to the fake Zuora,
reconciliation at scale), the web console's pages, and the reports over a
generated history beside DuckDB.

Every figure is printed with its target; a missed target is marked MISSED but
the exit status stays 0, so the benchmark reports rather than gates.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy as sa
from rich.console import Console

from bench import (
    api_load,
    audit_run,
    billing_post,
    billing_recon,
    list_load,
    web_pages,
)
from bench.databases import pg_server_url, pg_unreachable_reason
from bench.report import MAX_LIST_P99_MS, Report, render
from bench.reports_history import DEFAULT_CACHE
from bench.reports_table import MAX_REPORT_P95_MS
from creditdesk.logs import configure_logging

PHASES = ("api", "list", "audit", "billing", "web", "reports")

# What one part of the bench may fail with while the others still report.
FAILURES = (RuntimeError, httpx.HTTPError, sa.exc.SQLAlchemyError)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="measured, api")
    parser.add_argument("--warmup", type=int, default=200, help="per endpoint")
    parser.add_argument("--clients", type=int, default=8, help="concurrent")
    parser.add_argument("--customers", type=int, default=200, help="cases to spread")
    parser.add_argument(
        "--only",
        choices=PHASES,
        help="run one phase: api (raising credits), list (GET /api/v1/credits "
        "over a large history, as an agent and as finance), audit (verify), "
        "billing (posting to the fake Zuora, reconciliation), web (console pages), "
        "reports (each report over a generated history, beside DuckDB)",
    )
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--audit-entries", type=int, default=1_000_000)
    parser.add_argument(
        "--list-credits", type=int, default=100_000, help="credits seeded for list"
    )
    parser.add_argument(
        "--list-requests", type=int, default=300, help="measured, per list page"
    )
    parser.add_argument("--list-warmup", type=int, default=30, help="per list page")
    parser.add_argument(
        "--list-depth", type=int, default=50, help="pages walked to the deep page"
    )
    parser.add_argument(
        "--billing-credits",
        type=int,
        default=10_000,
        help="approved credits posted per billing run (PostgreSQL only)",
    )
    parser.add_argument(
        "--recon-credits",
        type=int,
        default=1_000_000,
        help="credits and ledger memos seeded for reconciliation",
    )
    parser.add_argument(
        "--web-requests", type=int, default=200, help="measured, per console page"
    )
    parser.add_argument(
        "--reports-credits",
        type=int,
        default=1_000_000,
        help="credits in the reports' generated history (cached between runs)",
    )
    parser.add_argument(
        "--reports-runs", type=int, default=20, help="measured, per report"
    )
    parser.add_argument(
        "--reports-seed", type=int, default=0, help="of the generated history"
    )
    parser.add_argument(
        "--reports-cache",
        type=Path,
        default=DEFAULT_CACHE,
        metavar="DIR",
        help="where the SQLite history and the Parquet exports are kept",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="print the list and report query plans even when the targets are met",
    )
    parser.add_argument(
        "--log-level", default="warning", help="the server's CREDITDESK_LOG_LEVEL"
    )
    parser.add_argument(
        "--no-worker",
        action="store_true",
        help="serve without the embedded outbox worker, to see what it costs",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample the server with py-spy during the credit phase",
    )
    return parser.parse_args(argv)


def backends(args: argparse.Namespace, report: Report) -> list[str]:
    if args.skip_postgres:
        report.notes.append("PostgreSQL skipped (--skip-postgres)")
        return ["sqlite"]
    reason = pg_unreachable_reason()
    if reason:
        report.notes.append(f"PostgreSQL skipped: {pg_server_url()}: {reason}")
        return ["sqlite"]
    return ["sqlite", "postgresql"]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Seeding logs through the services; only problems belong in the report.
    configure_logging(level="WARNING")
    # Wide enough that the tables do not wrap when the output is a file.
    console = Console(width=max(Console().width, 110))
    report = Report(requests=args.requests, clients=args.clients)
    started = time.monotonic()

    _note_busy_machine(report)
    if args.no_worker:
        report.notes.append("--no-worker: the credits were not posted; not a run")
    _run_phases(args, backends(args, report), report, console)
    render(report, console)
    console.print(f"bench finished in {time.monotonic() - started:.0f} s")
    return 0


def _run_phases(
    args: argparse.Namespace, chosen: list[str], report: Report, console: Console
) -> None:
    # All API runs first: the list seed and the audit fill write a lot, and
    # their dirty pages would slow the commits of an API run after them.
    if args.only in (None, "api"):
        for backend in chosen:
            _run_api(backend, args, report, console)
    if args.only in (None, "list"):
        for backend in chosen:
            _run_list(backend, args, report, console)
    if args.only in (None, "audit"):
        for backend in chosen:
            _run_audit(backend, args, report, console)
    if args.only in (None, "billing"):
        _run_posting(chosen, args, report, console)
        for backend in chosen:
            _run_recon(backend, args, report, console)
    if args.only in (None, "web"):
        for backend in chosen:
            _run_web(backend, args, report, console)
    # Last: writing a history that is not cached yet takes many minutes.
    if args.only in (None, "reports"):
        for backend in chosen:
            _run_reports(backend, args, report, console)


def _note_busy_machine(report: Report) -> None:
    # Client, server and database share this machine's cores: anything else
    # running skews every figure, so say so next to them.
    load_1m = os.getloadavg()[0]
    if load_1m > 0.5:
        report.notes.append(
            f"load average {load_1m:.1f} on {os.cpu_count()} cores when the bench "
            "started: other work was running, figures are pessimistic"
        )


def _run_api(
    backend: str, args: argparse.Namespace, report: Report, console: Console
) -> None:
    plan = api_load.LoadPlan(
        requests=args.requests,
        warmup=args.warmup,
        clients=args.clients,
        customers=args.customers,
        log_level=args.log_level,
        profile_dir=args.profile,
        worker=not args.no_worker,
    )
    with (
        console.status(f"API load on {backend}..."),
        tempfile.TemporaryDirectory(prefix="creditdesk-bench-logs-") as logs,
    ):
        try:
            report.api.append(api_load.run_backend(backend, plan, Path(logs)))
        except FAILURES as error:
            report.notes.append(f"API load on {backend} failed: {error}")


def _run_web(
    backend: str, args: argparse.Namespace, report: Report, console: Console
) -> None:
    with console.status(f"web console pages on {backend}..."):
        try:
            report.web.append(
                web_pages.run_backend(
                    backend, requests=args.web_requests, warmup=args.web_requests // 10
                )
            )
        except FAILURES as error:
            report.notes.append(f"web console pages on {backend} failed: {error}")


def _run_list(
    backend: str, args: argparse.Namespace, report: Report, console: Console
) -> None:
    plan = list_load.ListPlan(
        credits=args.list_credits,
        requests=args.list_requests,
        warmup=args.list_warmup,
        depth=args.list_depth,
        log_level=args.log_level,
        max_p99_ms=MAX_LIST_P99_MS,
        explain=args.explain,
    )
    # No status spinner around it: seeding shows its own progress bars.
    with tempfile.TemporaryDirectory(prefix="creditdesk-bench-logs-") as logs:
        try:
            report.lists.append(
                list_load.run_backend(backend, plan, Path(logs), console)
            )
        except FAILURES as error:
            report.notes.append(f"credit list on {backend} failed: {error}")


def _run_audit(
    backend: str, args: argparse.Namespace, report: Report, console: Console
) -> None:
    if not audit_run.available():
        if backend == "sqlite":
            report.notes.append("audit verify skipped: bench/audit_verify.py missing")
        return
    with console.status(f"audit verify on {backend}..."):
        try:
            report.audit.append(
                audit_run.run_backend(backend, entries=args.audit_entries)
            )
        except FAILURES as error:
            report.notes.append(f"audit verify on {backend} failed: {error}")


def _run_posting(
    chosen: list[str], args: argparse.Namespace, report: Report, console: Console
) -> None:
    if "postgresql" not in chosen:
        # SQLite serialises writers, so two workers would measure its lock.
        report.notes.append("posting to the fake Zuora skipped: it needs PostgreSQL")
        return
    for workers in (1, 2):
        try:
            report.postings.append(
                billing_post.run(args.billing_credits, workers, console)
            )
        except FAILURES as error:
            report.notes.append(f"posting with {workers} worker(s) failed: {error}")


def _run_recon(
    backend: str, args: argparse.Namespace, report: Report, console: Console
) -> None:
    try:
        report.recons.append(
            billing_recon.run_backend(backend, args.recon_credits, console)
        )
    except FAILURES as error:
        report.notes.append(f"reconciliation on {backend} failed: {error}")


def _run_reports(
    backend: str, args: argparse.Namespace, report: Report, console: Console
) -> None:
    try:
        # DuckDB comes with the bench extra, which `make bench` installs.
        import duckdb

        from bench import reports_load
    except ImportError as error:
        report.notes.append(f"reports skipped: {error} (pip install -e '.[bench]')")
        return
    plan = reports_load.ReportsPlan(
        credits=args.reports_credits,
        seed=args.reports_seed,
        runs=args.reports_runs,
        cache=args.reports_cache,
        max_p95_ms=MAX_REPORT_P95_MS,
        explain=args.explain,
    )
    try:
        report.reports.append(reports_load.run_backend(backend, plan, console))
    except (*FAILURES, duckdb.Error) as error:
        report.notes.append(f"reports on {backend} failed: {error}")


if __name__ == "__main__":
    raise SystemExit(main())
