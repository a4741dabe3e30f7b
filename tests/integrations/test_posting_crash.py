"""A worker process killed after Zuora stored the memo and before we committed.

The worker runs in a subprocess and is killed with SIGKILL while the fake
holds back its answer to the memo it has just created, so the credit is left
in ``posting`` with the message leased to a dead worker. A second worker picks
the message up when the lease expires and must adopt that memo, not post
another.
"""

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.accounts.models import Account, BillingSystem
from creditdesk.billing.tasks import PostCredit, idempotency_key
from creditdesk.clock import FrozenClock
from creditdesk.config import Settings
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.db import transaction
from creditdesk.outbox.models import OutboxStatus
from creditdesk.outbox.registry import CREDIT_POST
from creditdesk.outbox.worker import Worker
from tests.billing import support
from tests.integrations import crash_worker
from tests.integrations import zuora_support as z

# Earlier than every other suite's clock, so both workers see only this
# test's message.
START = datetime(1979, 4, 5, 6, 7, 8, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 30
POLL_SECONDS = 0.1


class KillPoint:
    """The fake's ``after_create`` hook: signal the test, then hold the answer
    back until the worker that asked for the memo is dead."""

    def __init__(self) -> None:
        self.created = threading.Event()
        self.killed = threading.Event()
        self.memo: dict[str, Any] | None = None

    def __call__(self, memo: dict[str, Any]) -> None:
        self.memo = memo
        self.created.set()
        self.killed.wait(WAIT_SECONDS)


@pytest.fixture
def tenant() -> Iterator[z.Tenant]:
    with z.running_tenant() as running:
        yield running


def _start_worker(database_url: str, zuora_url: str, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "CREDITDESK_DATABASE_URL": database_url,
        "CRASH_WORKER_NOW": START.isoformat(),
        "CRASH_WORKER_ZUORA_URL": zuora_url,
    }
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.integrations.crash_worker"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def _wait_for_memo(kill_point: KillPoint, worker: subprocess.Popen, log: Path) -> None:
    # Short waits on the event, so that a worker dying early fails at once.
    for _ in range(int(WAIT_SECONDS / POLL_SECONDS)):
        if kill_point.created.wait(POLL_SECONDS):
            return
        if worker.poll() is not None:
            pytest.fail(f"the worker exited before Zuora answered:\n{log.read_text()}")
    pytest.fail("Zuora never received the memo")


def test_a_worker_killed_before_its_commit_leaves_exactly_one_memo(
    session_factory: sessionmaker[Session],
    database_url: str,
    tenant: z.Tenant,
    tmp_path: Path,
) -> None:
    clock = FrozenClock(START)
    approved = support.make_approved_credit(
        session_factory, now=clock(), system=BillingSystem.ZUORA
    )
    account = tenant.account()
    invoice = tenant.invoice(account, "30.00")
    with transaction(session_factory) as session:
        session.get_one(
            Account, approved.account_id
        ).external_account_id = account.number
        session.get_one(BillingCredit, approved.credit_id).invoice_ref = invoice.number

    kill_point = KillPoint()
    tenant.fake.after_create = kill_point
    log = tmp_path / "crash-worker.log"
    worker = _start_worker(database_url, tenant.url, log)
    try:
        _wait_for_memo(kill_point, worker, log)
        os.kill(worker.pid, signal.SIGKILL)
        assert worker.wait(WAIT_SECONDS) == -signal.SIGKILL
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(WAIT_SECONDS)
        tenant.fake.after_create = None
        kill_point.killed.set()

    assert support.credit(session_factory, approved).status == CreditStatus.POSTING
    clock.advance(timedelta(seconds=crash_worker.LEASE_SECONDS))
    adapter = z.connect(tenant.url, clock).adapter
    settings = Settings(env="test", worker_lease_seconds=crash_worker.LEASE_SECONDS)
    second = Worker(
        session_factory,
        clock=clock,
        settings=settings,
        name="after-crash",
        handlers={CREDIT_POST: PostCredit(lambda *_a, **_k: adapter)},
    )
    assert second.run_once() == 1

    [memo] = tenant.fake.memos_with_key(idempotency_key(approved.message_id))
    assert kill_point.memo is not None and kill_point.memo["number"] == memo.number
    credit = support.credit(session_factory, approved)
    assert (credit.status, credit.external_ref) == (CreditStatus.APPLIED, memo.number)
    message = support.message(session_factory, approved)
    assert (message.status, message.attempts) == (OutboxStatus.DELIVERED, 2)
