"""Running a fake vendor on 127.0.0.1, with faults it can be told to inject.

Each fake is an ASGI app speaking its vendor's published API shapes. Tests
start it in a thread on a free loopback port (``serve``); the
``creditdesk fake-billing`` command serves one in the foreground for a demo.
Faults are queued per route, in code (``Faults.add``) or over HTTP
(``POST /__faults``), and each fires a set number of times.
"""

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

# A refused connection is what a closed port gives; a timeout is a delay
# longer than the client waits; a reset is the vendor doing the work and the
# connection dropping before its answer is whole.
FaultKind = Literal["status", "delay", "malformed", "reset"]
CONTROL_PATH = "/__faults"

_START_TIMEOUT_SECONDS = 10.0


@dataclass
class Fault:
    """``times`` requests to ``method path_prefix`` answer this way."""

    method: str
    path_prefix: str
    kind: FaultKind = "status"
    status: int = 503
    retry_after: str | None = None
    delay_seconds: float = 0.0
    times: int = 1
    body: str = '{"error": "injected fault"}'


@dataclass
class Faults:
    """The faults waiting to fire; thread-safe, first match wins."""

    pending: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, fault: Fault) -> None:
        with self._lock:
            self.pending.append(fault)

    def clear(self) -> None:
        with self._lock:
            self.pending.clear()

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.pending:
                if fault.method == method and path.startswith(fault.path_prefix):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.pending.remove(fault)
                    return fault
        return None


class FaultInjector:
    """ASGI middleware answering with a queued fault instead of the app."""

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == CONTROL_PATH:
            await self._control(scope, receive, send)
            return
        fault = self.faults.take(scope["method"], scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
            return
        await _inject(fault, scope, receive, send, self.app)

    async def _control(self, scope: Scope, receive: Receive, send: Send) -> None:
        """POST a fault as JSON to queue it; DELETE to clear them all."""
        if scope["method"] == "DELETE":
            self.faults.clear()
        else:
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            self.faults.add(Fault(**json.loads(body or b"{}")))
        await _answer(send, 204, b"", [])


async def _answer(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _inject(
    fault: Fault, scope: Scope, receive: Receive, send: Send, app: ASGIApp
) -> None:
    if fault.kind == "delay":
        await asyncio.sleep(fault.delay_seconds)
        await app(scope, receive, send)
        return
    if fault.kind == "reset":
        await _reset(scope, receive, send, app)
        return
    headers = [(b"content-type", b"application/json")]
    if fault.retry_after is not None:
        headers.append((b"retry-after", fault.retry_after.encode()))
    body = b"<html>not json" if fault.kind == "malformed" else fault.body.encode()
    status = 200 if fault.kind == "malformed" else fault.status
    await _answer(send, status, body, headers)


async def _reset(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    """Let the app do the work, throw its answer away and send the start of
    another that never ends: the server closes the connection mid-answer."""

    async def discard(message: Any) -> None:
        return None

    await app(scope, receive, discard)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"64")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b'{"', "more_body": True})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serve(app: Any, *, port: int | None = None) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 in a daemon thread; yields its base URL."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT_SECONDS
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the fake on port {port} did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class WholeRequestFirst:
    """Reads each request's body before anything else runs.

    A vendor goes on with a request it has received when the caller gives
    up waiting (SAP does), so a write delayed past the client's timeout
    still happens; without this a delayed handler would read a disconnect.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        pending = [{"type": "http.request", "body": b"".join(chunks)}]

        async def replay() -> Any:
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send)
