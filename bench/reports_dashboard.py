"""The reports dashboard over the generated history, as finance opens it.

``GET /reports`` goes through the whole app in process (httpx's ASGI
transport, signed in with a web session): the five reports, their charts and
the page around them. It is timed for the dashboard's default range (the 30
days up to the history's end) and for the twelve months the reports bench
uses. The app's clock is stopped at the history's end, so "today" is the
history's last day.
"""

import asyncio
import time
from dataclasses import dataclass
from datetime import date

import httpx
import sqlalchemy as sa

from bench.reports_history import HISTORY_END
from creditdesk.actors import Actor, Channel
from creditdesk.app import create_app
from creditdesk.auth import passwords
from creditdesk.clock import FrozenClock
from creditdesk.config import Settings
from creditdesk.db import create_engine, make_session_factory, transaction
from creditdesk.demo.service import DEMO_PASSWORD
from creditdesk.users.models import Role, User

MAX_DASHBOARD_MS = 1000.0


@dataclass
class DashboardTiming:
    range: str
    seconds: list[float]
    # The first answer that was not a page of charts, if any.
    problem: str | None = None

    def ms(self, fraction: float) -> float:
        ordered = sorted(self.seconds)
        rank = max(1, round(fraction * len(ordered)))
        return ordered[min(rank, len(ordered)) - 1] * 1000


def measure_dashboard(
    url: str, *, runs: int, date_from: date, date_to: date
) -> list[DashboardTiming]:
    """The dashboard's time over ``runs`` loads, after one to warm up, for
    its default range and for [date_from, date_to]."""
    engine = create_engine(url)
    try:
        username = _finance_who_can_sign_in(engine)
        app = create_app(
            Settings(database_url=url, log_level="warning"),
            engine=engine,
            clock=FrozenClock(HISTORY_END),
        )
        ranges = {
            "last 30 days (default)": {},
            "12 months": {"date_from": str(date_from), "date_to": str(date_to)},
        }
        return asyncio.run(_measure(app, username, ranges, runs))
    finally:
        engine.dispose()


def _finance_who_can_sign_in(engine: sa.Engine) -> str:
    # The history's people have no passwords: the first finance user (the
    # one the reports bench runs as) is given the demo's.
    with transaction(make_session_factory(engine)) as session:
        user = session.scalars(
            sa.select(User).where(User.role == Role.FINANCE).order_by(User.id)
        ).first()
        if user is None:
            raise RuntimeError("the generated history has no finance user")
        if user.password_hash is None:
            passwords.set_password(
                session,
                user=user,
                password=DEMO_PASSWORD,
                actor=Actor.system(Channel.CLI, name="bench"),
                now=HISTORY_END,
            )
        return user.username


async def _measure(
    app: object, username: str, ranges: dict[str, dict[str, str]], runs: int
) -> list[DashboardTiming]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://bench") as web:
        form = {"username": username, "password": DEMO_PASSWORD}
        signed_in = await web.post("/sign-in", data=form)
        if signed_in.status_code >= 400:
            raise RuntimeError(f"sign-in failed: {signed_in.status_code}")
        return [await _time(web, name, params, runs) for name, params in ranges.items()]


async def _time(
    web: httpx.AsyncClient, name: str, params: dict[str, str], runs: int
) -> DashboardTiming:
    timing = DashboardTiming(name, [])
    await web.get("/reports", params=params)  # warm-up
    for _ in range(runs):
        started = time.perf_counter()
        page = await web.get("/reports", params=params)
        timing.seconds.append(time.perf_counter() - started)
        if timing.problem is None and (
            page.status_code != 200 or "<svg" not in page.text
        ):
            timing.problem = f"{page.status_code}: {page.text[:120]!r}"
    return timing
