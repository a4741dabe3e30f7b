"""The credit-list benchmark on one backend: seed a large history, serve it,
and time ``GET /api/v1/credits`` for an agent and for finance, one client.

Each caller is timed on the first page and on a page deep in the list: the
cursor is walked ``depth`` times once, then that one page is asked for again
and again, so the figure is the cost of a deep keyset page, not of the walk.
"""

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console

from bench.databases import fresh_database, sessions
from bench.list_rows import Shape
from bench.list_seed import SeededOrg, seed
from bench.load import REQUEST_TIMEOUT_SECONDS, PhaseResult
from bench.process import serve
from bench.query_plan import explain_list
from creditdesk.api.pagination import DEFAULT_LIMIT

CREDITS_PATH = "/api/v1/credits"
CALLERS = ("agent", "finance")


@dataclass(frozen=True)
class ListPlan:
    credits: int
    requests: int
    warmup: int
    depth: int
    log_level: str
    max_p99_ms: float
    # Explain every series, not only those over the target.
    explain: bool = False


@dataclass
class ListSeries:
    """One caller asking for one page, over and over."""

    caller: str
    page: int
    cursor: str | None
    result: PhaseResult
    rows: int
    last_page: bool
    query_plan: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return "first" if self.page == 1 else f"deep (page {self.page})"


@dataclass
class ListResult:
    backend: str
    seed_seconds: float
    org: SeededOrg
    series: list[ListSeries]


@dataclass(frozen=True)
class _Cursor:
    value: str | None
    page: int
    last: bool


def run_backend(
    backend: str, plan: ListPlan, log_dir: Path, console: Console
) -> ListResult:
    """Seed ``plan.credits`` credits on a fresh ``backend`` database and time
    the list for each caller, first page and deep page."""
    with fresh_database(backend) as url:
        started = time.monotonic()
        with sessions(url) as factory:
            org = seed(factory, Shape(credits=plan.credits), console)
        seed_seconds = time.monotonic() - started

        with (
            console.status(f"credit list on {backend}..."),
            serve(url, log_dir=log_dir, log_level=plan.log_level) as server,
        ):
            series = [
                item
                for caller in CALLERS
                for item in _caller_series(
                    server.base_url, org.tokens[caller], caller, plan
                )
            ]

        # After the server stopped, so EXPLAIN ANALYZE does not compete with it.
        user_ids = {"agent": org.agent_id, "finance": org.finance_id}
        for item in series:
            if plan.explain or item.result.percentile_ms(0.99) > plan.max_p99_ms:
                item.query_plan = _explain(url, user_ids[item.caller], item)
        return ListResult(backend, seed_seconds, org, series)


def _caller_series(
    base_url: str, token: str, caller: str, plan: ListPlan
) -> list[ListSeries]:
    """The first page, then the deep one, as ``caller``."""
    with httpx.Client(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=REQUEST_TIMEOUT_SECONDS,
    ) as client:
        first = _series(client, caller, _first(), plan)
        deep = _series(client, caller, _walk(client, plan.depth), plan)
    return [first, deep]


def _first() -> _Cursor:
    return _Cursor(value=None, page=1, last=False)


def _walk(client: httpx.Client, depth: int) -> _Cursor:
    """Follow ``next_cursor`` up to ``depth`` times; stop early at the end,
    as a caller who sees few credits will."""
    cursor = _first()
    for _ in range(depth):
        page = _get(client, cursor.value).raise_for_status().json()
        if page["next_cursor"] is None:
            return _Cursor(cursor.value, cursor.page, last=True)
        cursor = _Cursor(page["next_cursor"], cursor.page + 1, last=False)
    return cursor


def _series(
    client: httpx.Client, caller: str, cursor: _Cursor, plan: ListPlan
) -> ListSeries:
    # Untimed: tells what the caller really gets (fewer rows than a page once
    # visibility filters the list).
    probe = _get(client, cursor.value)
    rows = len(probe.json()["items"]) if probe.is_success else 0
    for _ in range(plan.warmup):
        _get(client, cursor.value)

    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    first_error = None
    cpu_start = time.process_time()
    started = time.perf_counter()
    for _ in range(plan.requests):
        sent = time.perf_counter()
        response = _get(client, cursor.value)
        latencies.append(time.perf_counter() - sent)
        statuses[response.status_code] += 1
        if response.status_code >= 300 and first_error is None:
            first_error = f"{response.status_code} {response.text[:300]}"

    result = PhaseResult(
        seconds=time.perf_counter() - started,
        latencies=latencies,
        statuses=statuses,
        outcomes=Counter(),
        client_cpu_seconds=time.process_time() - cpu_start,
        first_error=first_error,
    )
    return ListSeries(caller, cursor.page, cursor.value, result, rows, cursor.last)


def _get(client: httpx.Client, cursor: str | None) -> httpx.Response:
    # The default limit, as a client that sends none gets it.
    params = {"cursor": cursor} if cursor else {}
    return client.get(CREDITS_PATH, params=params)


def _explain(url: str, user_id: int, series: ListSeries) -> list[str]:
    return explain_list(url, user_id=user_id, cursor=series.cursor, limit=DEFAULT_LIMIT)
