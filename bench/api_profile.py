"""What one ``POST /api/v1/credits`` costs in process: processor time and SQL
statements per request, beside the bare endpoint and ``/healthz``, and what
the worker's posting of one credit costs.

The app is called through httpx's ASGI transport, one request at a time, so
no socket, thread pool contention or other process is measured. ``/healthz``
is the floor: what the harness (the client half included) and FastAPI cost
with no database at all. Processor time is the cheapest of five rounds, as
other work on the machine only ever adds to it; statements and, with
``--cprofile``, Python calls per request do not depend on the load at all.
The bare endpoint is added after every other route, so each request to it
also pays for FastAPI trying those routes first.

    python -m bench.api_profile --backend sqlite --requests 300
    python -m bench.api_profile --cprofile /tmp/credits.prof   # pstats file
"""

import argparse
import asyncio
import cProfile
import os
import pstats
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
from sqlalchemy import event
from sqlalchemy.engine import Engine

from bench.api_load import CREDITS_PATH, credit_body_for, seed
from bench.databases import fresh_database, sessions
from bench.server import BARE_PATH, create
from creditdesk.clock import system_clock
from creditdesk.config import Settings
from creditdesk.logs import configure_logging
from creditdesk.outbox.worker import Worker

ROUNDS = 5


@dataclass
class Cost:
    name: str
    requests: int
    cpu_ms: float
    statements: float
    # Python function calls per request (with --cprofile): unlike processor
    # time, the same on a busy machine as on a quiet one.
    calls: float | None = None

    def line(self) -> str:
        calls = "" if self.calls is None else f"{self.calls:7.0f} calls  "
        return (
            f"{self.name:<22} {self.cpu_ms:7.2f} ms CPU  "
            f"{self.statements:5.1f} statements  {calls}(n={self.requests})"
        )


class StatementCounter:
    """Counts the statements sent to the database while ``counting``; keeps
    the text of the last few."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        self.recent: deque[str] = deque(maxlen=40)
        self._engine = engine

    def _seen(self, _conn: object, _cursor: object, statement: str, *_: object) -> None:
        self.count += 1
        self.recent.append(" ".join(statement.split())[:1200])

    @contextmanager
    def counting(self) -> Iterator[None]:
        self.count = 0
        event.listen(self._engine, "before_cursor_execute", self._seen)
        try:
            yield
        finally:
            event.remove(self._engine, "before_cursor_execute", self._seen)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.api_profile")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--cprofile", type=Path, help="write the credits' pstats")
    parser.add_argument(
        "--show-sql",
        action="store_true",
        help="print the statements of the last credit and the last posting",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    total = args.warmup + args.requests
    with fresh_database(args.backend) as url, sessions(url) as factory:
        token, case_ids = seed(factory, customers=args.customers, cases=2 * total)
        app = _app(url)
        body_for = credit_body_for(case_ids, args.customers)
        costs = asyncio.run(_measure(app, token, body_for, args))
        costs.append(
            _posting(app, args.requests, show_sql=args.show_sql, profile=args.cprofile)
        )
        app.state.engine.dispose()
    print(f"{args.backend}: in process, one request at a time")
    for cost in costs:
        print("  " + cost.line())
    return 0


def _app(url: str) -> Any:
    # The server's own start-up, as the load bench runs it, minus the worker.
    os.environ.update(
        CREDITDESK_DATABASE_URL=url,
        CREDITDESK_ENV="production",
        CREDITDESK_LOG_LEVEL="WARNING",
        CREDITDESK_SECRET_KEY=secrets.token_urlsafe(32),
        CREDITDESK_BENCH_WORKER="0",
    )
    return create()


async def _measure(
    app: Any, token: str, body_for: Callable[[int], dict], args: argparse.Namespace
) -> list[Cost]:
    counter = StatementCounter(app.state.engine)
    headers = {"Authorization": f"Bearer {token}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bench", headers=headers
    ) as client:
        index = iter(range(10**9))

        async def healthz() -> httpx.Response:
            return await client.get("/healthz")

        async def bare() -> httpx.Response:
            return await client.post(BARE_PATH, json=body_for(next(index)))

        credit_index = iter(range(args.warmup + args.requests, 10**9))

        async def credit() -> httpx.Response:
            return await client.post(CREDITS_PATH, json=body_for(next(credit_index)))

        bare_prof = args.cprofile.with_suffix(".bare.prof") if args.cprofile else None
        return [
            await _time("GET /healthz", healthz, counter, args),
            await _time("POST /bench/bare", bare, counter, args, profile=bare_prof),
            await _time(
                "POST /api/v1/credits", credit, counter, args, profile=args.cprofile
            ),
        ]


async def _time(
    name: str,
    call: Callable[[], Any],
    counter: StatementCounter,
    args: argparse.Namespace,
    profile: Path | None = None,
) -> Cost:
    for _ in range(args.warmup):
        answer = await call()
        if answer.status_code >= 300:
            raise RuntimeError(f"{name}: {answer.status_code} {answer.text[:300]}")

    profiling = _profiled_threads() if args.cprofile else nullcontext(None)
    # Other work on the machine only ever adds processor time (caches,
    # frequency), so the cheapest of a few rounds is the steadiest figure.
    rounds = [0.0] * ROUNDS
    size = max(1, args.requests // ROUNDS)
    with counter.counting(), profiling as profilers:
        if profilers:
            profilers[0].enable()
        for number in range(ROUNDS):
            started = time.process_time()
            for _ in range(size):
                await call()
            rounds[number] = (time.process_time() - started) / size
        if profilers:
            profilers[0].disable()
    calls = None
    if profilers:
        stats = _merged(profilers)
        calls = stats.total_calls / (size * ROUNDS)
        if profile:
            stats.dump_stats(profile)
    per_request = counter.count / (size * ROUNDS)
    if args.show_sql:
        _show(name, counter, per_request)
    return Cost(name, size * ROUNDS, min(rounds) * 1000, per_request, calls)


@contextmanager
def _profiled_threads() -> Iterator[list[cProfile.Profile]]:
    """Two profilers: one for the event loop's thread, one for the sync
    endpoint and dependencies FastAPI runs in its thread pool (cProfile
    only sees the thread that enabled it). One request runs at a time, so
    the pool's calls never overlap."""
    loop_profiler, pool_profiler = cProfile.Profile(), cProfile.Profile()
    original = anyio.to_thread.run_sync

    async def run_sync(func: Callable[[], Any], *args: Any, **kwargs: Any) -> Any:
        def profiled(*inner: Any) -> Any:
            pool_profiler.enable()
            try:
                return func(*inner)
            finally:
                pool_profiler.disable()

        return await original(profiled, *args, **kwargs)

    anyio.to_thread.run_sync = run_sync
    try:
        yield [loop_profiler, pool_profiler]
    finally:
        anyio.to_thread.run_sync = original


def _merged(profilers: list[cProfile.Profile]) -> pstats.Stats:
    stats = pstats.Stats(profilers[0])
    stats.add(profilers[1])
    return stats


def _show(name: str, counter: StatementCounter, per_request: float) -> None:
    last = list(counter.recent)[-round(per_request) :] if per_request else []
    print(f"{name}: the last {len(last)} statements")
    for statement in last:
        print("    " + statement)


def _posting(
    app: Any, expected: int, *, show_sql: bool = False, profile: Path | None = None
) -> Cost:
    """The embedded worker's share: post every credit raised above."""
    settings: Settings = app.state.settings
    worker = Worker(app.state.session_factory, clock=system_clock, settings=settings)
    counter = StatementCounter(app.state.engine)
    posted = 0
    profiler = cProfile.Profile() if profile else None
    with counter.counting():
        started = time.process_time()
        if profiler:
            profiler.enable()
        while processed := worker.run_once():
            posted += processed
        if profiler:
            profiler.disable()
        cpu = time.process_time() - started
    calls = None
    if profiler and profile:
        profiler.dump_stats(profile.with_suffix(".worker.prof"))
        calls = pstats.Stats(profiler).total_calls / max(posted, 1)
    if show_sql:
        _show("worker: post one", counter, counter.count / posted)
    if posted < expected:
        raise RuntimeError(f"the worker posted {posted}, expected {expected}+")
    return Cost(
        "worker: post one",
        posted,
        cpu * 1000 / posted,
        counter.count / posted,
        calls,
    )


if __name__ == "__main__":
    configure_logging(level="WARNING")
    raise SystemExit(main())
