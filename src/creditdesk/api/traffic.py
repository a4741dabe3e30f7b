"""How many HTTP requests this process is serving, so that the worker
embedded beside them can give way.

One interpreter runs the requests and the embedded outbox worker, and a
posting costs about as much processor time as the request that raised the
credit: while both run, every answer waits for the interpreter lock. People
are waiting on the answers; nobody waits on a posting second by second. So
before each message the embedded worker waits, for a bounded time, until no
request is in flight. A worker in a process of its own never waits.
"""

import time
from collections.abc import Callable
from functools import partial

from starlette.types import ASGIApp, Receive, Scope, Send

from creditdesk.config import Settings

# How often a waiting worker looks again: short beside a request's length,
# long enough that looking costs next to nothing.
_POLL_SECONDS = 0.002


class Traffic:
    """The requests in flight. Only the event loop's thread changes the
    count, so it needs no lock; the worker's thread only reads it."""

    def __init__(self) -> None:
        self.in_flight = 0

    def wait_for_quiet(self, longest_seconds: float) -> None:
        """Return once no request is in flight, or after ``longest_seconds``,
        so that the worker still makes progress under constant load."""
        deadline = time.monotonic() + longest_seconds
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(_POLL_SECONDS)


class TrafficMiddleware:
    """Counts each HTTP request from its first to its last byte."""

    def __init__(self, app: ASGIApp, traffic: Traffic) -> None:
        self.app = app
        self.traffic = traffic

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.traffic.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.traffic.in_flight -= 1


def embedded_give_way(
    traffic: Traffic, settings: Settings
) -> Callable[[], None] | None:
    """What the worker inside ``serve`` runs before each message; None when
    ``embedded_worker_yield_ms`` turns giving way off."""
    longest = settings.embedded_worker_yield_ms / 1000
    if longest <= 0:
        return None
    return partial(traffic.wait_for_quiet, longest)
