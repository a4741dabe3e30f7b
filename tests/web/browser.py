"""Browser tests' plumbing: Debian's Chromium, and the console served for real.

Playwright drives /usr/bin/chromium (installed by .ci/run); it never
downloads a browser. The console runs under uvicorn on a free loopback port
against a scratch database of its own, seeded with the demo organisation,
so the tests click through the same records a person sees after `make run`.
"""

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from playwright.sync_api import Page
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.actors import Actor, Channel
from creditdesk.app import create_app
from creditdesk.clock import system_clock
from creditdesk.config import Settings
from creditdesk.db import create_engine, make_session_factory, transaction
from creditdesk.demo.service import DEMO_PASSWORD, build_demo, give_passwords
from tests.databases import scratch_database, server_url

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
REPO = Path(__file__).resolve().parents[2]
# An ordinary run keeps its screenshots out of the tracked tree, since every
# run renders a few pixels differently; CREDITDESK_SCREENSHOT_DIR=docs/screenshots
# refreshes the ones README.md shows.
SCREENSHOTS = REPO / os.environ.get("CREDITDESK_SCREENSHOT_DIR", "data/screenshots")
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def screenshot(page: Page, name: str) -> None:
    """Save the whole page as <name>.png in SCREENSHOTS."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def chromium_or_fail() -> str:
    """The Chromium binary, or an error saying how to install it."""
    if not os.access(CHROMIUM, os.X_OK):
        raise RuntimeError(
            f"browser tests need Debian's Chromium at {CHROMIUM}: "
            "apt-get update && apt-get install -y chromium (.ci/run does this)"
        )
    return str(CHROMIUM)


@dataclass(frozen=True)
class Console:
    """The console being served: its address and its database."""

    url: str
    session_factory: sessionmaker[Session]
    settings: Settings
    password: str = DEMO_PASSWORD


@contextmanager
def serve_console(directory: Path) -> Iterator[Console]:
    """Serve the console on a scratch database seeded with the demo."""
    with scratch_database(server_url(), directory=directory) as url:
        engine = create_engine(url)
        factory = make_session_factory(engine)
        actor = Actor.system(Channel.CLI, name="tests")
        with transaction(factory) as session:
            org = build_demo(session, actor=actor, now=system_clock())
            give_passwords(session, org, actor=actor, now=system_clock())
        settings = Settings(database_url=url, env="test", worker_poll_seconds=0.05)
        # No embedded worker: the tests drain the outbox when their story
        # needs it, so nothing races them.
        app = create_app(settings, engine=engine)
        with _uvicorn(app) as base:
            yield Console(base, factory, settings)
        engine.dispose()


@contextmanager
def _uvicorn(app: object) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the console did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
