"""The web console's pages: time to render each, and queries per page.

The app is called in process through httpx's ASGI transport (no socket, no
client threads), signed in as the demo agent, on a fresh database with the
demo organisation and a few dozen of the agent's credits, so a page that
queried per row would show it in both columns.
"""

import asyncio
import re
import time
from dataclasses import dataclass, field

import httpx
from sqlalchemy import event

from bench.databases import fresh_database
from creditdesk.actors import Actor, Channel
from creditdesk.app import create_app
from creditdesk.clock import system_clock
from creditdesk.config import Settings
from creditdesk.db import create_engine, make_session_factory, transaction
from creditdesk.demo.service import DEMO_PASSWORD, build_demo, give_passwords

CREDITS = 40
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


@dataclass
class PageTiming:
    page: str
    queries: int
    samples_ms: list[float] = field(default_factory=list)
    # Processor time of the whole process per request: what the page costs
    # whatever else the machine is doing (wall times wait for the cores).
    cpu_ms: float = 0.0

    def percentile_ms(self, share: float) -> float:
        ordered = sorted(self.samples_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


@dataclass
class WebResult:
    backend: str
    pages: list[PageTiming]


def run_backend(backend: str, *, requests: int, warmup: int) -> WebResult:
    """Seed a new ``backend`` database and time each page ``requests`` times."""
    with fresh_database(backend) as url:
        engine = create_engine(url)
        try:
            _seed(engine)
            app = create_app(
                Settings(database_url=url, log_level="warning"), engine=engine
            )
            pages = asyncio.run(_measure(app, engine, requests, warmup))
        finally:
            engine.dispose()
    return WebResult(backend, pages)


def _seed(engine: object) -> None:
    factory = make_session_factory(engine)
    actor = Actor.system(Channel.CLI, name="bench")
    with transaction(factory) as session:
        org = build_demo(session, actor=actor, now=system_clock())
        give_passwords(session, org, actor=actor, now=system_clock())


async def _measure(app: object, engine: object, requests: int, warmup: int) -> list:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://bench") as web:
        form = {"username": "alex.agent", "password": DEMO_PASSWORD}
        await web.post("/sign-in", data=form)
        credit = await _raise_credits(web)
        preview = await _preview_form(web)
        calls = {
            "/": lambda: web.get("/"),
            "/cases?q=broadband": lambda: web.get("/cases?q=broadband"),
            "/cases/2": lambda: web.get("/cases/2"),
            credit: lambda: web.get(credit),
            "POST /credits/preview": lambda: web.post(
                "/credits/preview", data=preview[0], headers=preview[1]
            ),
        }
        return [
            await _time(name, call, engine, requests, warmup)
            for name, call in calls.items()
        ]


async def _raise_credits(web: httpx.AsyncClient) -> str:
    location = ""
    for number in range(CREDITS):
        page = (await web.get("/cases/2")).text
        answer = await web.post(
            "/cases/2/credits",
            data={
                **_tokens(page),
                "amount": f"1.{number:02d}",
                "type": "sla",
                "reason": "service_outage",
                "justification": "Three days without broadband; SLA agreed.",
            },
        )
        location = answer.headers.get("location", location)
    return location


async def _preview_form(web: httpx.AsyncClient) -> tuple[dict, dict]:
    tokens = _tokens((await web.get("/cases/2")).text)
    headers = {"X-CSRF-Token": tokens.pop("csrf_token"), "HX-Request": "true"}
    form = {**tokens, "case_id": "2", "amount": "35.00", "type": "sla"}
    return {**form, "reason": "service_outage", "justification": ""}, headers


def _tokens(page: str) -> dict[str, str]:
    return {
        "csrf_token": _CSRF.search(page).group(1),
        "idempotency_key": _KEY.search(page).group(1),
    }


async def _time(
    name: str, call: object, engine: object, requests: int, warmup: int
) -> PageTiming:
    for _ in range(warmup):
        await call()
    counted: list[int] = []

    def count(*_args: object) -> None:
        counted.append(1)

    event.listen(engine, "before_cursor_execute", count)
    answer = await call()
    event.remove(engine, "before_cursor_execute", count)
    if answer.status_code != 200:
        raise RuntimeError(f"{name} answered {answer.status_code}")

    timing = PageTiming(name, len(counted))
    cpu_started = time.process_time()
    for _ in range(requests):
        started = time.perf_counter()
        await call()
        timing.samples_ms.append((time.perf_counter() - started) * 1000)
    timing.cpu_ms = (time.process_time() - cpu_started) * 1000 / requests
    return timing
