"""The gauge of requests in flight that the embedded worker gives way to."""

import asyncio
import threading
import time

import httpx
import pytest
from fastapi import FastAPI

from creditdesk.api.traffic import Traffic, TrafficMiddleware, embedded_give_way
from creditdesk.config import Settings


def test_an_idle_process_does_not_keep_the_worker_waiting() -> None:
    started = time.monotonic()
    Traffic().wait_for_quiet(5)

    assert time.monotonic() - started < 1


def test_the_worker_waits_until_the_last_request_is_answered() -> None:
    traffic = Traffic()
    traffic.in_flight = 1
    done = threading.Event()

    def worker() -> None:
        traffic.wait_for_quiet(30)
        done.set()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert not done.wait(0.1)
        traffic.in_flight = 0
        assert done.wait(5)
    finally:
        traffic.in_flight = 0
        thread.join(5)


def test_constant_traffic_holds_the_worker_back_only_so_long() -> None:
    traffic = Traffic()
    traffic.in_flight = 3
    started = time.monotonic()

    traffic.wait_for_quiet(0.05)

    assert 0.05 <= time.monotonic() - started < 2


def test_the_middleware_counts_a_request_while_it_is_served() -> None:
    traffic = Traffic()
    app = FastAPI()
    app.add_middleware(TrafficMiddleware, traffic=traffic)

    @app.get("/seen")
    async def seen() -> dict[str, int]:
        return {"in_flight": traffic.in_flight}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("the handler failed")

    async def call() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.get("/seen"), await c.get("/boom")

    answer, failed = asyncio.run(call())

    assert answer.json() == {"in_flight": 1}
    assert failed.status_code == 500
    # Counted down again after an answer and after a failure alike.
    assert traffic.in_flight == 0


@pytest.mark.parametrize(("yield_ms", "waits"), [(50, True), (0, False)])
def test_serve_s_worker_gives_way_unless_turned_off(yield_ms: int, waits: bool) -> None:
    traffic = Traffic()
    traffic.in_flight = 1
    give_way = embedded_give_way(
        traffic, Settings(env="test", embedded_worker_yield_ms=yield_ms)
    )

    started = time.monotonic()
    if give_way is not None:
        give_way()

    assert (give_way is not None) == waits
    assert (time.monotonic() - started >= 0.05) == waits
