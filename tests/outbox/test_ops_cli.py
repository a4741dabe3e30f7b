"""``creditdesk outbox``: list, retry and cancel from the terminal, acting as a
named finance or admin user."""

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner, Result

from creditdesk.cli import app
from creditdesk.config import get_settings
from creditdesk.credits.models import CreditStatus
from creditdesk.outbox.models import OutboxStatus
from creditdesk.outbox.registry import CREDIT_POST
from tests.outbox.desk import Desk, open_desk

runner = CliRunner()
WHY = "Billing operations agreed with the customer to drop this credit."


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    with open_desk(tmp_path_factory.mktemp("ops-cli")) as desk:
        yield desk


@pytest.fixture(autouse=True)
def cli_database(monkeypatch: pytest.MonkeyPatch, desk: Desk) -> Iterator[None]:
    """Point the CLI's settings at the desk's database."""
    monkeypatch.setenv("CREDITDESK_DATABASE_URL", desk.url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _run(*args: str) -> Result:
    return runner.invoke(app, ["outbox", *args])


def test_list_shows_the_dead_letters_in_a_table(desk: Desk) -> None:
    failed = desk.failed()
    applied = desk.applied()

    dead = _run("list", "--status", "dead", "--topic", CREDIT_POST)
    everything = _run("list", "--limit", "1000")

    assert dead.exit_code == 0, dead.output
    row = next(
        line for line in dead.stdout.splitlines() if f" {failed.message_id} " in line
    )
    assert "dead" in row and "not configured" in row
    assert f" {applied.message_id} " not in dead.stdout
    assert f" {applied.message_id} " in everything.stdout


def test_retry_acts_as_the_named_finance_user(desk: Desk) -> None:
    failed = desk.failed()
    who = desk.org.finance.username

    result = _run("retry", str(failed.message_id), "--as", who)

    assert result.exit_code == 0, result.output
    assert f"outbox message {failed.message_id}" in result.stdout
    message = desk.message(failed.message_id)
    assert (message.status, message.attempts) == (OutboxStatus.PENDING, 0)
    [entry] = desk.audit("outbox_message", failed.message_id, "outbox.retried")
    assert (entry.actor_id, entry.actor_name, entry.channel) == (
        desk.org.finance.id,
        who,
        "cli",
    )


def test_cancel_voids_the_failed_credit(desk: Desk) -> None:
    failed = desk.failed()

    result = _run(
        "cancel", str(failed.message_id), "--comment", WHY,
        "--as", desk.org.admin.username,
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert desk.message(failed.message_id).status is OutboxStatus.CANCELLED
    assert desk.credit(failed).status is CreditStatus.VOIDED
    [voided] = desk.audit("credit", failed.credit_id, "credit.voided")
    assert (voided.actor_name, voided.channel, voided.reason) == (
        desk.org.admin.username,
        "cli",
        WHY,
    )
    assert not [i for i in desk.handoffs(failed.credit_id) if i.is_open]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ((), "--as USERNAME"),
        (("--as", "nobody-at-all"), "no user called 'nobody-at-all'"),
        (("--as", "AGENT"), "may not do outbox.operate"),
    ],
)
def test_retry_and_cancel_refuse_without_an_operator(
    desk: Desk, extra: tuple[str, ...], message: str
) -> None:
    failed = desk.failed()
    extra = tuple(desk.org.agent.username if a == "AGENT" else a for a in extra)

    retry = _run("retry", str(failed.message_id), *extra)
    cancel = _run("cancel", str(failed.message_id), "--comment", WHY, *extra)

    for result in (retry, cancel):
        assert result.exit_code == 1, result.output
        assert message in result.stderr
        assert result.stdout == ""
    assert desk.message(failed.message_id).status is OutboxStatus.DEAD
    assert desk.credit(failed).status is CreditStatus.POSTING_FAILED


def test_unknown_or_settled_messages_are_refused(desk: Desk) -> None:
    applied = desk.applied()
    who = ("--as", desk.org.finance.username)

    missing = _run("retry", "987654321", *who)
    delivered = _run("cancel", str(applied.message_id), "--comment", WHY, *who)

    assert missing.exit_code == 1
    assert "outbox message 987654321 does not exist" in missing.stderr
    assert delivered.exit_code == 1
    assert "cannot be cancelled" in delivered.stderr
