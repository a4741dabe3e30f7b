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
from creditdesk.api.pagination import DEFAULT_LIMIT, decode_cursor

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
    rows: int
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

        series: list[ListSeries] = []
        with (
            console.status(f"credit list on {backend}..."),
            serve(url, log_dir=log_dir, log_level=plan.log_level) as server,
        ):
            for caller in CALLERS:
                headers = {"Authorization": f"Bearer {org.tokens[caller]}"}
                with httpx.Client(
                    base_url=server.base_url,
                    headers=headers,
                    timeout=REQUEST_TIMEOUT_SECONDS,
                ) as client:
                    series.append(_series(client, caller, _first(), plan))
                    deep = _walk(client, plan.depth)
                    series.append(_series(client, caller, deep, plan))

        user_ids = {"agent": org.agent_id, "finance": org.finance_id}
        for item in series:
            if plan.explain or item.result.percentile_ms(0.99) > plan.max_p99_ms:
                item.query_plan = _explain(url, user_ids[item.caller], item)
        return ListResult(backend, seed_seconds, org, series)


def _first() -> _Cursor:
    return _Cursor(value=None, page=1, rows=DEFAULT_LIMIT, last=False)


def _walk(client: httpx.Client, depth: int) -> _Cursor:
    """Follow ``next_cursor`` up to ``depth`` times; stop early at the end,
    as a caller who sees few credits will."""
    cursor = _first()
    for _ in range(depth):
        page = _get(client, cursor.value).raise_for_status().json()
        if page["next_cursor"] is None:
            return _Cursor(cursor.value, cursor.page, len(page["items"]), last=True)
        cursor = _Cursor(page["next_cursor"], cursor.page + 1, 0, last=False)
    rows = len(_get(client, cursor.value).raise_for_status().json()["items"])
    return _Cursor(cursor.value, cursor.page, rows, last=rows < DEFAULT_LIMIT)


def _series(
    client: httpx.Client, caller: str, cursor: _Cursor, plan: ListPlan
) -> ListSeries:
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
    return ListSeries(
        caller, cursor.page, cursor.value, result, cursor.rows, cursor.last
    )


def _get(client: httpx.Client, cursor: str | None) -> httpx.Response:
    # The default limit, as a client that sends none gets it.
    params = {"cursor": cursor} if cursor else {}
    return client.get(CREDITS_PATH, params=params)


def _explain(url: str, user_id: int, series: ListSeries) -> list[str]:
    before_id = decode_cursor(series.cursor)
    return explain_list(url, user_id=user_id, before_id=before_id, limit=DEFAULT_LIMIT)
