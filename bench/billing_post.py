"""Approved credits posted to the fake Zuora by the real outbox worker.

Each run gets a fresh PostgreSQL database seeded in bulk with approved credits
on Zuora accounts and one ``credit.post`` message each, and a fresh fake
tenant served from this process. The workers run in processes of their own,
so two of them are not serialised by one interpreter lock; they drain the
outbox and exit. What the fake holds afterwards is the proof: one memo per
idempotency key.
"""

import multiprocessing
import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from rich.progress import Progress

from bench.databases import fresh_database, sessions
from bench.list_rows import Shape, customers, history, people
from bench.list_seed import after_bulk_load, insert_rows
from creditdesk.accounts.models import Account, Contract
from creditdesk.billing.tasks import PostCredit
from creditdesk.cases.models import Case
from creditdesk.clock import system_clock
from creditdesk.config import Settings
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.db import create_engine, make_session_factory, transaction
from creditdesk.integrations.fakes.server import serve
from creditdesk.integrations.zuora.adapter import ZuoraAdapter, build_client
from creditdesk.integrations.zuora.fake import ZuoraFake
from creditdesk.integrations.zuora.settings import ZuoraSettings
from creditdesk.logs import configure_logging
from creditdesk.outbox.models import OutboxMessage, OutboxStatus
from creditdesk.outbox.registry import CREDIT_POST
from creditdesk.outbox.worker import Worker
from creditdesk.policy import service as policy
from creditdesk.users.models import Team, User

SEED = 20_261_204
# Few enough that the fake's linear account lookup costs nothing.
ACCOUNTS = 200
CHARGE_ID = "goodwill-credit-charge"
KEY_FIELD = "IdempotencyKey__c"
# A worker still running this long after the start has hung.
DRAIN_TIMEOUT_SECONDS = 1_800.0
START_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class PostingRun:
    workers: int
    credits: int
    seconds: float
    seed_seconds: float
    posted: int
    not_posted: int
    duplicates: int
    memos: int
    failures: list[str]

    @property
    def per_second(self) -> float:
        return self.posted / self.seconds if self.seconds else 0.0


def run(credits: int, workers: int, console: Console) -> PostingRun:
    """Seed ``credits`` on a new PostgreSQL database and drain them with
    ``workers`` worker processes."""
    fake = ZuoraFake(clock=system_clock)
    numbers = [
        fake.add_account(number=f"Z{n:07d}").number for n in range(1, ACCOUNTS + 1)
    ]
    with fresh_database("postgresql") as url, serve(fake.asgi()) as fake_url:
        started = time.monotonic()
        with sessions(url) as factory:
            _seed(factory, credits, numbers, console)
        seed_seconds = time.monotonic() - started

        with console.status(f"posting {credits:,} credits, {workers} worker(s)..."):
            seconds, failures = _drain(url, fake_url, workers)

        with sessions(url) as factory, factory() as session:
            statuses = Counter(
                dict(
                    session.execute(
                        sa.select(BillingCredit.status, sa.func.count()).group_by(
                            BillingCredit.status
                        )
                    ).all()
                )
            )
    posted = statuses[CreditStatus.POSTED] + statuses[CreditStatus.APPLIED]
    keys = Counter(memo.custom.get(KEY_FIELD) for memo in fake.memos)
    return PostingRun(
        workers=workers,
        credits=credits,
        seconds=seconds,
        seed_seconds=seed_seconds,
        posted=posted,
        not_posted=sum(statuses.values()) - posted,
        duplicates=sum(count - 1 for count in keys.values() if count > 1),
        memos=len(fake.memos),
        failures=failures,
    )


def _seed(factory: Any, credits: int, numbers: list[str], console: Console) -> None:
    rng = random.Random(SEED)
    now = datetime.now(UTC)
    with transaction(factory) as session:
        policy.active_policy(session)

    shape = Shape(credits=credits, accounts=len(numbers))
    org = people(shape, now)
    accounts, contracts = customers(shape, rng, now)
    for account, number in zip(accounts, numbers, strict=True):
        # Zuora keeps every account in one currency; the fake's are all GBP.
        account.update(billing_system="zuora", external_account_id=number)
        account["currency"] = "GBP"
    cases, rows = history(shape, org, ["GBP"] * len(accounts), rng, now)
    for row in rows:
        _as_approved(row)
    messages = [_message(row["id"], now) for row in rows]
    tables = (
        (Team, org.teams),
        (User, org.users),
        (Account, accounts),
        (Contract, contracts),
        (Case, cases),
        (BillingCredit, rows),
        (OutboxMessage, messages),
    )
    with factory() as session, session.begin():
        connection = session.connection()
        with Progress(console=console, transient=True) as progress:
            for model, table_rows in tables:
                insert_rows(connection, model.__table__, table_rows, progress)
        after_bulk_load(connection, [model.__table__ for model, _ in tables])


def _as_approved(row: dict[str, Any]) -> None:
    # Without an invoice the adapter raises a memo from the configured charge.
    row.update(
        status=CreditStatus.APPROVED.value,
        decision={
            "outcome": "approved",
            "rules": [{"id": "auto_approval_limit", "message": "seeded"}],
            "policy_version": 1,
            "steps": [],
            "flags": [],
        },
        invoice_ref=None,
        external_ref=None,
        last_error=None,
        posted_at=None,
        applied_at=None,
        decided_at=row["updated_at"],
    )


def _message(credit_id: int, now: datetime) -> dict[str, Any]:
    # The row credits.service.queue_posting writes, one id per credit.
    return {
        "id": credit_id,
        "topic": CREDIT_POST,
        "payload": {"credit_id": credit_id},
        "status": OutboxStatus.PENDING.value,
        "attempts": 0,
        "available_at": now,
        "lease_owner": None,
        "lease_expires_at": None,
        "last_error": None,
        "created_at": now,
        "delivered_at": None,
    }


def _drain(url: str, fake_url: str, workers: int) -> tuple[float, list[str]]:
    """Seconds from the moment every worker is ready until the last is done."""
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(workers + 1)
    processes = [
        context.Process(target=drain_outbox, args=(url, fake_url, ready))
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    try:
        ready.wait(START_TIMEOUT_SECONDS)
        started = time.monotonic()
        for process in processes:
            process.join(DRAIN_TIMEOUT_SECONDS)
        seconds = time.monotonic() - started
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join()
    failures = [
        f"worker {n} exited with {process.exitcode}"
        for n, process in enumerate(processes, 1)
        if process.exitcode != 0
    ]
    return seconds, failures


def drain_outbox(url: str, fake_url: str, ready: Any) -> None:
    """One worker process: run batches until none is due, then exit."""
    configure_logging(level="WARNING")
    zuora = ZuoraSettings(
        _env_file=None,  # type: ignore[call-arg]
        base_url=fake_url,
        client_id="creditdesk",
        client_secret="s3cret",  # type: ignore[arg-type]
        charge_id=CHARGE_ID,
    )
    adapter = ZuoraAdapter(zuora, clock=system_clock, client=build_client(zuora))
    settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    engine = create_engine(url, pool_size=2)
    worker = Worker(
        make_session_factory(engine),
        clock=system_clock,
        settings=settings,
        name="bench-billing",
        handlers={CREDIT_POST: PostCredit(lambda *_a, **_k: adapter)},
    )
    ready.wait(START_TIMEOUT_SECONDS)
    try:
        while worker.run_once():
            pass
    finally:
        engine.dispose()
