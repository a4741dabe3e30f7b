"""The reports benchmark on one backend: each report over a generated history,
twelve months, unfiltered, as finance, beside DuckDB over the same rows; then
the dashboard page that shows them all (``reports_dashboard``).

Each report runs in process as the endpoints call it (a read-only session,
``run_report``, ``as_json``), once to warm up and then ``runs`` times; the
same aggregation runs in DuckDB over the rows exported to Parquet, the
reference floor. Both answers are compared figure by figure, and a report
over its target has the plan of its slowest statement kept for the notes.
"""

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from bench.query_plan import captured, plan
from bench.reports_dashboard import DashboardTiming, measure_dashboard
from bench.reports_duck import Reference, Tables, open_views
from bench.reports_export import connect, export_parquet
from bench.reports_history import HISTORY_END, database_name, ensure_history
from creditdesk.db import create_engine, make_session_factory, read_only
from creditdesk.reports.service import REPORTS, run_report
from creditdesk.reports.settings import RoiBaselines
from creditdesk.users.models import Role, User

# Names of teams and agents are ours alone: DuckDB compares by id.
NAME_COLUMNS = ("team", "agent")


@dataclass(frozen=True)
class ReportsPlan:
    credits: int
    seed: int
    runs: int
    cache: Path
    max_p95_ms: float
    # Explain every report, not only those over the target.
    explain: bool = False


@dataclass
class ReportTiming:
    report: str
    ours: list[float]  # seconds per run
    duck: list[float]
    mismatches: list[str]
    query_plan: list[str] = field(default_factory=list)

    def ours_ms(self, fraction: float) -> float:
        return percentile_ms(self.ours, fraction)

    def duck_ms(self, fraction: float) -> float:
        return percentile_ms(self.duck, fraction)


@dataclass
class ReportsResult:
    backend: str
    credits: int
    rows: dict[str, int]
    date_from: str
    date_to: str
    history_note: str
    export_note: str
    load: str
    # Credits a second writing the history, when this run wrote it, and the
    # load average (1, 5, 15 min) as it finished.
    generated_per_second: float | None = None
    generation_load: str = ""
    timings: list[ReportTiming] = field(default_factory=list)
    dashboard: list[DashboardTiming] = field(default_factory=list)

    @property
    def load_1m(self) -> str:
        """The one-minute load average before and after the measurements."""
        return " → ".join(part.split()[0] for part in self.load.split(" → "))


def percentile_ms(latencies: list[float], fraction: float) -> float:
    """Nearest-rank percentile, in milliseconds."""
    if not latencies:
        return float("nan")
    ordered = sorted(latencies)
    rank = max(1, round(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1] * 1000


def run_backend(backend: str, plan_: ReportsPlan, console: Console) -> ReportsResult:
    cached = ensure_history(
        backend,
        credits=plan_.credits,
        seed=plan_.seed,
        cache=plan_.cache,
        console=console,
    )
    generation_load = _load()
    history_note = (
        "reused from the cache"
        if cached.reused
        else f"generated in {cached.seconds:.0f} s at load {generation_load}"
    )
    name = database_name(plan_.credits, plan_.seed)
    exported = plan_.cache / f"{name}.{backend}.parquet"
    if not cached.reused:
        # An export of an earlier history of the same name is stale.
        shutil.rmtree(exported, ignore_errors=True)
    reused = (exported / "rows.csv").exists()
    started = time.perf_counter()
    with console.status(f"reports on {backend}: exporting rows to Parquet..."):
        rows = export_parquet(cached.url, exported)
    export_note = (
        "reused" if reused else f"written in {time.perf_counter() - started:.0f} s"
    )

    date_to = HISTORY_END.date() - timedelta(days=1)
    date_from = date_to - timedelta(days=364)
    result = ReportsResult(
        backend=backend,
        credits=plan_.credits,
        rows=rows,
        date_from=date_from.isoformat(),
        date_to=date_to.isoformat(),
        history_note=history_note,
        export_note=export_note,
        load=_load(),
        generated_per_second=None if cached.reused else cached.per_second,
        generation_load=generation_load,
    )
    filters = {"date_from": date_from, "date_to": date_to}
    engine = create_engine(cached.url, pool_size=1, max_overflow=0)
    try:
        with connect() as duck:
            open_views(duck, exported)
            reference = Reference(
                duck,
                start=datetime.combine(date_from, clock_time.min),
                end=datetime.combine(date_to + timedelta(days=1), clock_time.min),
                baselines=RoiBaselines(),
            )
            ours = Ours(make_session_factory(engine), filters)
            for name in REPORTS:
                with console.status(f"reports on {backend}: {name}..."):
                    result.timings.append(_measure(name, ours, reference, plan_))
    finally:
        engine.dispose()
    with console.status(f"reports on {backend}: the dashboard..."):
        result.dashboard = measure_dashboard(
            cached.url, runs=plan_.runs, date_from=date_from, date_to=date_to
        )
    result.load += f" → {_load()}"
    _explain_slow(cached.url, filters, result, plan_)
    return result


class Ours:
    """Our reports as the endpoints run them, for the first finance user."""

    def __init__(self, factory: sessionmaker[Session], filters: dict[str, Any]):
        self.factory = factory
        self.filters = filters
        self.baselines = RoiBaselines()
        with factory() as session:
            self.user_id = session.scalars(
                sa.select(User.id).where(User.role == Role.FINANCE).order_by(User.id)
            ).first()
        if self.user_id is None:
            raise RuntimeError("the generated history has no finance user")

    def run(self, name: str) -> tuple[float, Tables]:
        """Seconds to run and serialise ``name``, and its tables."""
        session = read_only(self.factory())
        try:
            user = session.get_one(User, self.user_id)
            started = time.perf_counter()
            body = self.report(session, user, name)
            seconds = time.perf_counter() - started
            session.commit()
        finally:
            session.close()
        return seconds, body["tables"]

    def report(self, session: Session, user: User, name: str) -> dict[str, Any]:
        return run_report(
            session,
            user=user,
            name=name,
            today=HISTORY_END.date(),
            baselines=self.baselines,
            **self.filters,
        ).as_json()


def _measure(
    name: str, ours: Ours, reference: Reference, plan_: ReportsPlan
) -> ReportTiming:
    _, tables = ours.run(name)  # warm-up, and the figures to compare
    ours_seconds = [ours.run(name)[0] for _ in range(plan_.runs)]

    build = reference.reports[name]
    expected = build()
    duck_seconds = [_timed(build) for _ in range(plan_.runs)]
    return ReportTiming(name, ours_seconds, duck_seconds, compare(tables, expected))


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def compare(ours: Tables, reference: Tables) -> list[str]:
    """What differs between our tables and DuckDB's, table by table, on the
    columns DuckDB computes."""
    problems = []
    for table, expected in reference.items():
        if table not in ours:
            problems.append(f"{table}: missing from our report")
            continue
        columns = _columns(expected, ours[table])
        mine = sorted(_canonical(row, columns) for row in ours[table])
        theirs = sorted(_canonical(row, columns) for row in expected)
        if mine == theirs:
            continue
        extra = sorted(set(mine) - set(theirs))
        missing = sorted(set(theirs) - set(mine))
        problems.append(
            f"{table}: {len(mine)} rows here, {len(theirs)} in DuckDB; "
            f"only here: {extra[:2]}; only in DuckDB: {missing[:2]}"
        )
    return problems


def _columns(expected: list[dict], actual: list[dict]) -> list[str]:
    first = expected[0] if expected else (actual[0] if actual else {})
    return [key for key in first if key not in NAME_COLUMNS]


def _canonical(row: dict[str, Any], columns: list[str]) -> str:
    return json.dumps([row.get(column, "<absent>") for column in columns])


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} {five:.1f} {fifteen:.1f}"


def _explain_slow(
    url: str, filters: dict[str, Any], result: ReportsResult, plan_: ReportsPlan
) -> None:
    # The slowest statement of each slow report, timed one by one in the
    # order the report sent them, with its plan.
    slow = [
        timing
        for timing in result.timings
        if plan_.explain or timing.ours_ms(0.95) > plan_.max_p95_ms
    ]
    if not slow:
        return
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        ours = Ours(make_session_factory(engine), filters)
        for timing in slow:
            timing.query_plan = _slowest_plan(engine, ours, timing.report)
    finally:
        engine.dispose()


def _slowest_plan(engine: sa.Engine, ours: Ours, name: str) -> list[str]:
    with read_only(ours.factory()) as session:
        user = session.get_one(User, ours.user_id)
        statements = captured(engine, lambda: ours.report(session, user, name))
        session.rollback()
    with engine.connect() as connection, connection.begin():
        # Sent again in order: PostgreSQL's SET LOCAL jit = off comes first.
        spent = []
        for statement, parameters in statements:
            started = time.perf_counter()
            rows = connection.exec_driver_sql(statement, parameters)
            if rows.returns_rows:
                rows.all()
            spent.append((time.perf_counter() - started, statement, parameters))
        seconds, statement, parameters = max(spent, key=lambda item: item[0])
        text = " ".join(statement.split())
        return [
            f"slowest statement, {seconds * 1000:.0f} ms: {text}",
            *plan(connection, statement, parameters),
        ]
