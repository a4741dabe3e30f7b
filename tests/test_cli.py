"""The creditdesk command line, run in-process against the test database."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from creditdesk.access import service as access
from creditdesk.access.models import ApiToken
from creditdesk.cli import app
from creditdesk.config import get_settings
from creditdesk.db import create_engine, make_session_factory
from creditdesk.policy.models import PolicyVersion
from creditdesk.users.models import Role, User

runner = CliRunner()


@pytest.fixture
def cli_database(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[str]:
    """Point the CLI's settings at the test database."""
    monkeypatch.setenv("CREDITDESK_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


@pytest.fixture
def empty_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """Point the CLI at a SQLite file that has no schema yet."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("CREDITDESK_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def _run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def _username(prefix: str = "cli") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}"


def _user(session_factory: sessionmaker[Session], username: str) -> User | None:
    with session_factory() as session:
        return session.scalars(
            sa.select(User).where(User.username == username)
        ).one_or_none()


@pytest.mark.usefixtures("cli_database")
def test_users_create_prints_and_stores_the_user(
    session_factory: sessionmaker[Session],
) -> None:
    boss = _username("boss")
    name = _username()
    team = f"Team {uuid.uuid4().hex[:6]}"
    assert _run("users", "create", boss, "--role", "team_lead").exit_code == 0

    result = _run(
        "users", "create", name, "--role", "agent", "--team", team,
        "--manager", boss, "--display-name", "Casey Lane",
        "--email", "casey@example.com",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert f"username      {name}" in result.stdout
    assert f"team          {team}" in result.stdout
    assert f"manager       {boss}" in result.stdout
    stored = _user(session_factory, name)
    assert stored is not None
    assert (stored.role, stored.display_name) == (Role.AGENT, "Casey Lane")


@pytest.mark.usefixtures("cli_database")
def test_users_create_errors_go_to_stderr_with_status_2(
    session_factory: sessionmaker[Session],
) -> None:
    name = _username()
    nobody = _username("nobody")

    unknown_manager = _run("users", "create", name, "--role", "agent",
                           "--manager", nobody)  # fmt: skip
    bad_name = _run("users", "create", "No Spaces", "--role", "agent")
    _run("users", "create", name, "--role", "agent")
    duplicate = _run("users", "create", name, "--role", "finance")

    assert unknown_manager.exit_code == 2
    assert f"manager: there is no user called '{nobody}'" in unknown_manager.stderr
    assert unknown_manager.stdout == ""
    assert bad_name.exit_code == 2
    assert "username:" in bad_name.stderr
    assert duplicate.exit_code == 2
    assert "already exists" in duplicate.stderr
    stored = _user(session_factory, name)
    assert stored is not None and stored.role == Role.AGENT


@pytest.mark.usefixtures("cli_database")
def test_users_create_refuses_an_unknown_role() -> None:
    result = _run("users", "create", _username(), "--role", "overlord")

    assert result.exit_code == 2
    assert "overlord" in result.stderr


@pytest.mark.usefixtures("cli_database")
def test_tokens_issue_prints_only_a_working_token(
    session_factory: sessionmaker[Session],
) -> None:
    name = _username()
    _run("users", "create", name, "--role", "agent")

    result = _run("tokens", "issue", name, "--ttl-days", "3")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith(access.TOKEN_PREFIX)
    now = datetime.now(UTC)
    with session_factory() as session:
        user = access.authenticate(session, lines[0], now=now)
        token = session.scalars(
            sa.select(ApiToken).where(ApiToken.user_id == user.id)
        ).one()
    assert user.username == name
    assert token.expires_at is not None
    assert abs(token.expires_at - (now + timedelta(days=3))) < timedelta(minutes=1)


@pytest.mark.usefixtures("cli_database")
def test_tokens_issue_for_an_unknown_user_fails_with_status_2() -> None:
    ghost = _username("ghost")

    result = _run("tokens", "issue", ghost)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert ghost in result.stderr


def _demo_rows(stdout: str) -> dict[str, list[str]]:
    rows = {}
    for line in stdout.splitlines():
        cells = line.split()
        if cells and cells[-1].startswith(access.TOKEN_PREFIX):
            rows[cells[0]] = cells
    return rows


@pytest.mark.usefixtures("cli_database")
def test_demo_is_idempotent_and_prints_working_tokens(
    session_factory: sessionmaker[Session],
) -> None:
    first = _run("demo")
    with session_factory() as session:
        users_after_first = session.scalar(sa.select(sa.func.count(User.id)))

    second = _run("demo")

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert "0 demo records created" in second.stdout
    first_rows, second_rows = _demo_rows(first.stdout), _demo_rows(second.stdout)
    assert len(second_rows) == 10
    assert [r[:-1] for r in first_rows.values()] == [
        r[:-1] for r in second_rows.values()
    ]
    assert second_rows["alex.agent"][1:4] == ["agent", "Billing", "North"]
    with session_factory() as session:
        assert session.scalar(sa.select(sa.func.count(User.id))) == users_after_first
        token = second_rows["maya.manager"][-1]
        me = access.authenticate(session, token, now=datetime.now(UTC))
    assert me.username == "maya.manager"


@pytest.mark.usefixtures("cli_database")
def test_demo_if_empty_skips_a_database_with_users() -> None:
    _run("users", "create", _username(), "--role", "agent")

    result = _run("demo", "--if-empty")

    assert result.exit_code == 0
    assert "skipped" in result.stderr
    assert access.TOKEN_PREFIX not in result.stdout


@pytest.mark.usefixtures("empty_database")
@pytest.mark.parametrize(
    "args",
    [
        ("users", "create", "someone", "--role", "agent"),
        ("tokens", "issue", "someone"),
        ("demo",),
        ("worker",),
        ("serve", "--port", "1"),
    ],
)
def test_a_database_without_schema_asks_for_db_upgrade(args: tuple[str, ...]) -> None:
    result = _run(*args)

    assert result.exit_code == 1
    assert "run `creditdesk db upgrade`" in result.stderr


@pytest.mark.postgres
def test_an_empty_postgresql_database_asks_for_db_upgrade(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server_url = os.environ["CREDITDESK_TEST_DATABASE_URL"]
    name = f"creditdesk_empty_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(server_url).set(database=name)
    monkeypatch.setenv(
        "CREDITDESK_DATABASE_URL", url.render_as_string(hide_password=False)
    )
    get_settings.cache_clear()
    try:
        result = _run("users", "create", _username(), "--role", "agent")
    finally:
        get_settings.cache_clear()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()

    assert result.exit_code == 1
    assert "run `creditdesk db upgrade`" in result.stderr


def test_db_upgrade_builds_the_schema_and_the_first_policy(
    empty_database: str,
) -> None:
    first = _run("db", "upgrade")
    second = _run("db", "upgrade")

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert "policy version 1" in second.stdout
    engine = create_engine(empty_database)
    try:
        with make_session_factory(engine)() as session:
            versions = list(session.scalars(sa.select(PolicyVersion.version)))
    finally:
        engine.dispose()
    assert versions == [1]
    created = _run("users", "create", _username(), "--role", "admin")
    assert created.exit_code == 0, created.output


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Spawned:
    """``creditdesk ARGS`` in a child process, its output read by a thread.

    Every wait is bounded; on a timeout the child dumps its threads' stacks
    (faulthandler on SIGABRT) so the failure shows where it was stuck.
    """

    def __init__(self, database_url: str, *args: str) -> None:
        env = {
            **os.environ,
            "CREDITDESK_DATABASE_URL": database_url,
            "PYTHONFAULTHANDLER": "1",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "creditdesk", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self._lines.append(line)
                self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "".join(self._lines)

    def wait_for(self, needle: str, timeout: float = 30) -> None:
        with self._changed:
            found = self._changed.wait_for(
                lambda: needle in "".join(self._lines), timeout=timeout
            )
        if not found:
            self._abort(f"{needle!r} did not appear within {timeout} s")

    def exit_code(self, timeout: float = 30) -> int:
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._abort(f"still running {timeout} s later")
        return code

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)

    def _abort(self, why: str) -> None:
        self.process.send_signal(signal.SIGABRT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self.kill()
        pytest.fail(f"{why}:\n{self.output}")


def test_logs_go_to_stderr_and_results_to_stdout(database_url: str) -> None:
    name = _username()

    done = subprocess.run(
        [sys.executable, "-m", "creditdesk", "users", "create", name, "--role",
         "agent"],
        env={**os.environ, "CREDITDESK_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert f"username      {name}" in done.stdout
    assert "user.created" in done.stderr
    assert "user.created" not in done.stdout


def test_worker_runs_until_sigterm(database_url: str) -> None:
    worker = Spawned(database_url, "worker")
    try:
        worker.wait_for("outbox.worker_started")

        worker.process.send_signal(signal.SIGTERM)

        assert worker.exit_code() == 0
        worker.wait_for("outbox.worker_stopped")
    finally:
        worker.kill()


def test_serve_answers_health_checks_and_stops_on_sigterm(
    database_url: str,
) -> None:
    port = _free_port()
    server = Spawned(database_url, "serve", "--port", str(port), "--no-worker")
    try:
        server.wait_for("Uvicorn running")

        health = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)

        assert health.status_code == 200
        assert health.json() == {"status": "ready"}
        server.process.send_signal(signal.SIGTERM)
        # uvicorn shuts down cleanly, then re-raises the signal it caught.
        assert server.exit_code() in (0, -signal.SIGTERM)
        server.wait_for("Application shutdown complete")
    finally:
        server.kill()
