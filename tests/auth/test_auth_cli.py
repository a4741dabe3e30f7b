"""``creditdesk users passwd`` and ``creditdesk tokens issue|list|revoke``."""

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from creditdesk.access import service as access
from creditdesk.access.models import ApiToken
from creditdesk.audit import service as audit
from creditdesk.auth import passwords
from creditdesk.cli import app
from creditdesk.config import get_settings
from creditdesk.errors import NotAuthenticated
from creditdesk.users.models import User

runner = CliRunner()
NEW_PASSWORD = "a fresh and long passphrase"


@pytest.fixture(autouse=True)
def cli_database(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[str]:
    monkeypatch.setenv("CREDITDESK_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def _run(*args: str, stdin: str | None = None) -> Result:
    return runner.invoke(app, list(args), input=stdin)


def _new_user(role: str = "agent") -> str:
    name = f"cli.{uuid.uuid4().hex[:10]}"
    assert _run("users", "create", name, "--role", role).exit_code == 0
    return name


def _user(factory: sessionmaker[Session], username: str) -> User:
    with factory() as session:
        return session.scalars(sa.select(User).where(User.username == username)).one()


def _tokens(factory: sessionmaker[Session], user_id: int) -> list[ApiToken]:
    with factory() as session:
        return list(session.scalars(sa.select(ApiToken).filter_by(user_id=user_id)))


def test_passwd_asks_twice_without_echo(session_factory: sessionmaker[Session]) -> None:
    name = _new_user()

    result = _run("users", "passwd", name, stdin=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert NEW_PASSWORD not in result.output
    user = _user(session_factory, name)
    assert passwords.verify(user.password_hash, NEW_PASSWORD).ok
    with session_factory() as session:
        entry = audit.entries_for(session, entity_type="user", entity_id=user.id)[-1]
    assert entry.action == "user.password_changed"
    assert user.password_hash not in entry.changes
    assert set(json.loads(entry.changes)) == {"password_changed_at"}


def test_passwd_reads_stdin_for_scripts(session_factory: sessionmaker[Session]) -> None:
    name = _new_user()

    result = _run("users", "passwd", name, "--password-stdin", stdin=NEW_PASSWORD)

    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    user = _user(session_factory, name)
    assert passwords.verify(user.password_hash, NEW_PASSWORD).ok


def test_passwd_refuses_a_short_password(
    session_factory: sessionmaker[Session],
) -> None:
    name = _new_user()

    result = _run("users", "passwd", name, "--password-stdin", stdin="short\n")

    assert result.exit_code == 2
    assert "password" in result.stderr
    assert _user(session_factory, name).password_hash is None


def test_tokens_issue_takes_scopes_and_expiry(
    session_factory: sessionmaker[Session],
) -> None:
    name = _new_user("team_lead")

    result = _run(
        "tokens", "issue", name, "--scope", "read", "--scope", "approve",
        "--expires-in-days", "2",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert result.stdout.strip().startswith(access.TOKEN_PREFIX)
    (token,) = _tokens(session_factory, _user(session_factory, name).id)
    assert token.scopes == ["read", "approve"]


def test_tokens_issue_refuses_a_scope_beyond_the_role() -> None:
    result = _run("tokens", "issue", _new_user(), "--scope", "admin")

    assert result.exit_code == 2
    assert "scopes" in result.stderr


def test_tokens_revoke_by_id_prefix_and_user(
    session_factory: sessionmaker[Session],
) -> None:
    name = _new_user()
    secrets = [_run("tokens", "issue", name).stdout.strip() for _ in range(4)]
    first, second = _tokens(session_factory, _user(session_factory, name).id)[:2]

    by_id = _run("tokens", "revoke", "--id", str(first.id))
    by_prefix = _run("tokens", "revoke", "--prefix", second.prefix)
    the_rest = _run("tokens", "revoke", "--all-for", name)

    assert [r.stdout.strip() for r in (by_id, by_prefix, the_rest)] == [
        "revoked 1 token",
        "revoked 1 token",
        "revoked 2 tokens",
    ]
    with session_factory() as session:
        for secret in secrets:
            with pytest.raises(NotAuthenticated):
                access.authenticate(session, secret, now=datetime.now(UTC))
    listed = _run("tokens", "list", name).stdout
    assert len(listed.splitlines()) == 5
    assert secrets[0] not in listed


def test_tokens_revoke_needs_exactly_one_choice() -> None:
    assert _run("tokens", "revoke").exit_code == 2
    assert _run("tokens", "revoke", "--id", "1", "--prefix", "cdt_x").exit_code == 2
    assert _run("tokens", "revoke", "--id", "999999999").exit_code == 2
