"""The printed result: a table of measurements and a table of targets."""

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.api_load import BackendResult
from bench.audit_run import AuditResult
from bench.billing_post import PostingRun
from bench.billing_recon import ReconResult
from bench.list_load import ListResult
from bench.load import PhaseResult
from bench.profiling import Profile
from bench.reports_table import print_reports_notes, reports_table, reports_targets
from bench.web_pages import WebResult
from creditdesk.api.pagination import DEFAULT_LIMIT

MIN_RATIO = 0.5
MAX_P99_MS = 50.0
MAX_LIST_P99_MS = 50.0
MAX_RSS_MB = 250.0
MIN_AUDIT_RATE = 500_000.0
MAX_RECON_SECONDS = 60.0
MAX_RECON_RSS_MB = 1024.0
# A console page should render in a few milliseconds of processor time.
MAX_PAGE_CPU_MS = 10.0


@dataclass
class Report:
    requests: int
    clients: int
    api: list[BackendResult] = field(default_factory=list)
    audit: list[AuditResult] = field(default_factory=list)
    lists: list[ListResult] = field(default_factory=list)
    postings: list[PostingRun] = field(default_factory=list)
    recons: list[ReconResult] = field(default_factory=list)
    web: list[WebResult] = field(default_factory=list)
    # bench.reports_load.ReportsResult; that module needs DuckDB.
    reports: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def render(report: Report, console: Console) -> None:
    if report.api:
        console.print(_api_table(report))
    if report.lists:
        console.print(_list_table(report.lists))
    if report.postings:
        console.print(_posting_table(report.postings))
    if report.recons:
        console.print(_recon_table(report.recons))
    if report.web:
        console.print(_web_table(report.web))
    if report.reports:
        console.print(reports_table(report.reports))
    measured = (report.api, report.audit, report.lists, report.postings)
    if any(measured) or report.recons or report.web or report.reports:
        console.print(_targets_table(report))
    for result in report.api:
        _print_api_notes(result, console)
    for result in report.lists:
        _print_list_notes(result, console)
    for result in report.audit:
        console.print(f"audit {result.backend}: {result.details}")
    print_reports_notes(report.reports, console)
    _print_posting_notes(report.postings, console)
    for recon in report.recons:
        _print_recon_notes(recon, console)
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}")


def _api_table(report: Report) -> Table:
    table = Table(
        title=f"API load: {report.requests} requests, {report.clients} clients"
    )
    for name in ("Backend", "Endpoint", "req/s", "p50 ms", "p99 ms", "non-2xx"):
        table.add_column(name, justify="left" if name[0].isupper() else "right")
    table.add_column("server CPU", justify="right")
    table.add_column("client CPU", justify="right")
    table.add_column("machine busy", justify="right")
    for result in report.api:
        for endpoint, phase in (("credits", result.credits), ("bare", result.bare)):
            table.add_row(result.backend, endpoint, *_phase_cells(phase))
    return table


def _phase_cells(phase: PhaseResult) -> list[str]:
    return [
        f"{phase.per_second:,.1f}",
        f"{phase.percentile_ms(0.50):.1f}",
        f"{phase.percentile_ms(0.99):.1f}",
        str(phase.errors),
        _share(phase.server_cpu_seconds, phase.seconds),
        _share(phase.client_cpu_seconds, phase.seconds),
        "?" if phase.machine_busy is None else f"{100 * phase.machine_busy:.0f}%",
    ]


def _share(cpu_seconds: float | None, seconds: float) -> str:
    # Of one core, as top shows it: 200% is two cores busy.
    return "?" if cpu_seconds is None else f"{100 * cpu_seconds / seconds:.0f}%"


def _targets_table(report: Report) -> Table:
    table = Table(title="Targets")
    for name in ("Check", "Backend", "Measured", "Target", "Verdict"):
        table.add_column(name)
    for result in report.api:
        ratio = result.credits.per_second / (result.bare.per_second or 1)
        p99 = result.credits.percentile_ms(0.99)
        rss_mb = result.peak_rss_kib / 1024
        errors = result.credits.errors + result.bare.errors
        table.add_row(
            "credits/s / bare/s",
            result.backend,
            f"{ratio:.2f}",
            f">= {MIN_RATIO}",
            _verdict(ratio >= MIN_RATIO, errors),
        )
        table.add_row(
            "credits p99",
            result.backend,
            f"{p99:.1f} ms",
            f"<= {MAX_P99_MS:.0f} ms",
            _verdict(p99 <= MAX_P99_MS, errors),
        )
        table.add_row(
            "server peak RSS (VmHWM)",
            result.backend,
            f"{rss_mb:.0f} MB",
            f"<= {MAX_RSS_MB:.0f} MB",
            _verdict(rss_mb <= MAX_RSS_MB),
        )
    _list_targets(report.lists, table)
    for audit in report.audit:
        rate = audit.entries_per_second
        table.add_row(
            "audit verify",
            audit.backend,
            "?" if rate is None else f"{rate:,.0f} entries/s",
            f">= {MIN_AUDIT_RATE:,.0f}/s",
            "?" if rate is None else _verdict(rate >= MIN_AUDIT_RATE),
        )
    _billing_targets(report, table)
    _web_targets(report.web, table)
    reports_targets(report.reports, table, _verdict)
    return table


def _web_table(results: list[WebResult]) -> Table:
    table = Table(title="Web console pages, in process, signed in as an agent")
    for name in ("Backend", "Page", "queries", "cpu ms", "p50 ms", "p99 ms"):
        table.add_column(name, justify="left" if name[0].isupper() else "right")
    for result in results:
        for page in result.pages:
            table.add_row(
                result.backend,
                page.page,
                str(page.queries),
                f"{page.cpu_ms:.1f}",
                f"{page.percentile_ms(0.50):.1f}",
                f"{page.percentile_ms(0.99):.1f}",
            )
    return table


def _web_targets(results: list[WebResult], table: Table) -> None:
    for result in results:
        for page in result.pages:
            table.add_row(
                f"page cpu, {page.page}",
                result.backend,
                f"{page.cpu_ms:.1f} ms",
                f"<= {MAX_PAGE_CPU_MS:.0f} ms",
                _verdict(page.cpu_ms <= MAX_PAGE_CPU_MS),
            )


def _verdict(ok: bool, errors: int = 0) -> str:
    # A run with failed requests measured something else: it cannot pass.
    if errors:
        return "[bold red]MISSED[/] (errors)"
    return "[green]OK[/]" if ok else "[bold red]MISSED[/]"


def _print_api_notes(result: BackendResult, console: Console) -> None:
    ratio = result.credits.per_second / (result.bare.per_second or 1)
    console.print(
        f"{result.backend}: credits {result.credits.per_second:,.1f}/s ÷ bare "
        f"{result.bare.per_second:,.1f}/s = {ratio:.2f}; "
        f"server RSS {result.rss_kib / 1024:.0f} MB now, "
        f"{result.peak_rss_kib / 1024:.0f} MB peak"
    )
    outcomes = dict(result.credits.outcomes.most_common())
    console.print(f"  measured credit outcomes: {outcomes}")
    console.print(f"  all credits by status after drain: {result.credit_statuses}")
    drain = result.drain_seconds
    console.print(
        "  outbox not drained (no worker, or still pending after the timeout)"
        if drain is None
        else f"  outbox drained {drain:.1f} s after the last request"
    )
    for phase_name, phase in (("credits", result.credits), ("bare", result.bare)):
        if phase.first_error:
            console.print(f"  first {phase_name} error: {phase.first_error}")
    for name, profile in result.profiles.items():
        _print_profile(name, profile, console)


def _print_profile(name: str, profile: Profile, console: Console) -> None:
    console.print(
        f"  {name} profile ({profile.samples} samples, {profile.raw_path}): "
        "our functions, share of samples with them on the stack"
    )
    for function, share in profile.ours:
        console.print(f"    {share:5.1f}%  {function}")
    console.print("  innermost frame, by package")
    for package, share in profile.leaves:
        console.print(f"    {share:5.1f}%  {package}")


def _list_table(results: list[ListResult]) -> Table:
    first = results[0]
    table = Table(
        title=f"Credit list: {first.org.credits:,} credits, 1 client, "
        f"{first.series[0].result.requests} requests per page"
    )
    for name in ("Backend", "Caller", "Page", "rows", "p50 ms", "p99 ms", "non-2xx"):
        table.add_column(name, justify="left" if name[0].isupper() else "right")
    for result in results:
        for series in result.series:
            table.add_row(
                result.backend,
                series.caller,
                series.label + (" (last)" if series.last_page else ""),
                str(series.rows),
                f"{series.result.percentile_ms(0.50):.1f}",
                f"{series.result.percentile_ms(0.99):.1f}",
                str(series.result.errors),
            )
    return table


def _list_targets(results: list[ListResult], table: Table) -> None:
    for result in results:
        for series in result.series:
            p99 = series.result.percentile_ms(0.99)
            table.add_row(
                f"list p99, {series.caller}, {series.label}",
                result.backend,
                f"{p99:.1f} ms",
                f"<= {MAX_LIST_P99_MS:.0f} ms",
                _verdict(p99 <= MAX_LIST_P99_MS, series.result.errors),
            )


def _print_list_notes(result: ListResult, console: Console) -> None:
    org = result.org
    console.print(
        f"{result.backend} list: seeded {org.credits:,} credits in "
        f"{result.seed_seconds:.1f} s; the agent raised {org.agent_credits:,} "
        f"({100 * org.agent_credits / max(org.credits, 1):.1f}%), finance sees all"
    )
    seen = max(
        (
            (s.page - 1) * DEFAULT_LIMIT + s.rows
            for s in result.series
            if s.caller == "agent"
        ),
        default=0,
    )
    if seen > org.agent_credits:
        console.print(
            f"  the agent read {seen:,} credits: more than their own, so the "
            "list does not filter by visibility"
        )
    for series in result.series:
        if series.result.first_error:
            console.print(f"  first {series.caller} error: {series.result.first_error}")
        if series.query_plan:
            console.print(f"  query plan, {series.caller}, {series.label}:")
            for line in series.query_plan:
                console.print(
                    f"    {line}", markup=False, highlight=False, soft_wrap=True
                )


def _posting_table(runs: list[PostingRun]) -> Table:
    table = Table(title="Posting to the fake Zuora (PostgreSQL, worker processes)")
    for name in ("Workers", "credits", "s", "credits/s", "posted", "not posted"):
        table.add_column(name, justify="left" if name[0].isupper() else "right")
    table.add_column("duplicate memos", justify="right")
    for run in runs:
        table.add_row(
            str(run.workers),
            f"{run.credits:,}",
            f"{run.seconds:.1f}",
            f"{run.per_second:,.1f}",
            f"{run.posted:,}",
            f"{run.not_posted:,}",
            str(run.duplicates),
        )
    return table


def _recon_table(results: list[ReconResult]) -> Table:
    table = Table(title="Reconciliation, ledger (seeding not counted)")
    for name in ("Backend", "credits", "seed s", "run s", "peak RSS MB"):
        table.add_column(name, justify="left" if name[0].isupper() else "right")
    table.add_column("Findings")
    for result in results:
        counts = result.counts
        table.add_row(
            result.backend,
            f"{result.credits:,}",
            f"{result.seed_seconds:.0f}",
            f"{result.seconds:.1f}",
            f"{result.peak_rss_kib / 1024:.0f}",
            f"{counts.get('mismatched')} mismatched, {counts.get('untracked')} "
            f"untracked, {counts.get('missing')} missing"
            + ("" if result.as_planted else " [bold red](not as planted)[/]"),
        )
    return table


def _billing_targets(report: Report, table: Table) -> None:
    for run in report.postings:
        table.add_row(
            f"posting, {run.workers} worker(s): duplicate memos",
            "postgresql",
            str(run.duplicates),
            "0",
            _verdict(run.duplicates == 0, len(run.failures)),
        )
        table.add_row(
            f"posting, {run.workers} worker(s): credits not posted",
            "postgresql",
            f"{run.not_posted:,}",
            "0",
            _verdict(run.not_posted == 0, len(run.failures)),
        )
    for recon in report.recons:
        rss_mb = recon.peak_rss_kib / 1024
        table.add_row(
            "reconciliation wall time",
            recon.backend,
            f"{recon.seconds:.1f} s",
            f"< {MAX_RECON_SECONDS:.0f} s",
            _verdict(recon.seconds < MAX_RECON_SECONDS),
        )
        table.add_row(
            "reconciliation peak RSS (VmHWM)",
            recon.backend,
            f"{rss_mb:.0f} MB",
            f"< {MAX_RECON_RSS_MB:.0f} MB",
            _verdict(rss_mb < MAX_RECON_RSS_MB),
        )
        table.add_row(
            "reconciliation findings as planted",
            recon.backend,
            "yes" if recon.as_planted else "no",
            "yes",
            _verdict(recon.as_planted),
        )


def _print_posting_notes(runs: list[PostingRun], console: Console) -> None:
    by_workers = {run.workers: run for run in runs}
    one, two = by_workers.get(1), by_workers.get(2)
    if one and two and one.per_second:
        console.print(
            f"posting: 2 workers {two.per_second:,.1f}/s ÷ 1 worker "
            f"{one.per_second:,.1f}/s = {two.per_second / one.per_second:.2f}"
        )
    for run in runs:
        console.print(
            f"  {run.workers} worker(s): seeded in {run.seed_seconds:.1f} s; "
            f"{run.memos:,} memos at the fake"
        )
        for failure in run.failures:
            console.print(f"  [bold red]{failure}[/]")


def _print_recon_notes(result: ReconResult, console: Console) -> None:
    planted = "" if result.as_planted else f"; planted {result.expected}"
    console.print(f"reconciliation {result.backend}: {result.counts}{planted}")
    if result.seconds < MAX_RECON_SECONDS:
        return
    console.print(
        "  where the run's time went (sampled stacks): our functions, share of "
        "samples with them on the stack"
    )
    for function, share in result.ours:
        console.print(f"    {share:5.1f}%  {function}")
    console.print("  innermost frame, by package")
    for package, share in result.leaves:
        console.print(f"    {share:5.1f}%  {package}")
