"""Reconciliation at scale: a million applied credits against a million ledger
memos, with a handful of discrepancies planted among them.

The rows are written in bulk, chunk by chunk so the seeding process never
holds them all: cases, credits, their delivered ``credit.post`` messages and
the memos those messages made (keyed ``outbox-<message id>``, as the posting
job keys them). The run itself happens in a fresh process, so its peak RSS
(``VmHWM``) is reconciliation's own and not the seeder's.
"""

import multiprocessing
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from rich.progress import Progress, TaskID
from sqlalchemy.orm import Session, sessionmaker

from bench.databases import fresh_database, sessions
from bench.list_rows import Shape, case_row, credit_row, customers, people
from bench.list_seed import after_bulk_load, insert_rows, write_rows
from bench.stack_sampler import StackSampler
from creditdesk.accounts.models import Account, BillingSystem, Contract
from creditdesk.actors import Actor, Channel
from creditdesk.billing.models import LedgerMemo
from creditdesk.cases.models import Case
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.db import create_engine, make_session_factory, transaction
from creditdesk.logs import configure_logging
from creditdesk.outbox.models import OutboxMessage
from creditdesk.outbox.registry import CREDIT_POST
from creditdesk.policy import service as policy
from creditdesk.reconciliation.models import ReconciliationRun
from creditdesk.reconciliation.service import reconcile
from creditdesk.reconciliation.sources import source_for
from creditdesk.users.models import Team, User

SEED = 20_261_205
# A whole number of cases, so that no case straddles two chunks.
CREDITS_PER_CASE = 10
CHUNK = 2_000 * CREDITS_PER_CASE
# Inside the longest period a run may cover (366 days).
SPAN = timedelta(days=300)
MISSING, MISMATCHED, UNTRACKED = 4, 5, 3
RUN_TIMEOUT_SECONDS = 1_800.0
BENCH_ACTOR = Actor.system(Channel.CLI, name="bench")
COUNTED = ("vendor_memos", "matched", "mismatched", "untracked", "missing")


@dataclass
class ReconResult:
    backend: str
    credits: int
    seed_seconds: float
    seconds: float
    peak_rss_kib: int
    counts: dict[str, int]
    expected: dict[str, int]
    ours: list[tuple[str, float]] = field(default_factory=list)
    leaves: list[tuple[str, float]] = field(default_factory=list)

    @property
    def as_planted(self) -> bool:
        return self.counts == self.expected


def run_backend(backend: str, credits: int, console: Console) -> ReconResult:
    """Seed ``credits`` on a new ``backend`` database and reconcile them."""
    with fresh_database(backend) as url:
        started = time.monotonic()
        with sessions(url) as factory:
            expected, period = _seed(factory, credits, console)
        seed_seconds = time.monotonic() - started
        with console.status(f"reconciling {credits:,} credits on {backend}..."):
            measured = _measure(url, period)
    return ReconResult(
        backend=backend,
        credits=credits,
        seed_seconds=seed_seconds,
        expected=expected,
        **measured,
    )


# -- seeding ----------------------------------------------------------------


@dataclass
class _Plan:
    """What to plant, and where the rows of one chunk go."""

    missing: set[int]
    mismatched: set[int]
    accounts: list[dict[str, Any]]
    agents: list[int]
    team_of: dict[int, int]
    start: datetime
    step: timedelta


def _seed(
    factory: sessionmaker[Session], credits: int, console: Console
) -> tuple[dict[str, int], tuple[date, date]]:
    rng = random.Random(SEED)
    now = datetime.now(UTC)
    with transaction(factory) as session:
        policy.active_policy(session)

    shape = Shape(credits=credits)
    org = people(shape, now)
    accounts, contracts = customers(shape, rng, now)
    planted = rng.sample(range(1, credits + 1), MISSING + MISMATCHED)
    plan = _Plan(
        missing=set(planted[:MISSING]),
        mismatched=set(planted[MISSING:]),
        accounts=accounts,
        agents=org.agent_ids,
        team_of=org.team_of,
        start=now - SPAN,
        step=SPAN / max(credits, 1),
    )
    bulk = (Case, BillingCredit, OutboxMessage, LedgerMemo)
    with factory() as session, session.begin():
        connection = session.connection()
        with Progress(console=console, transient=True) as progress:
            for model, rows in (
                (Team, org.teams),
                (User, org.users),
                (Account, accounts),
                (Contract, contracts),
            ):
                insert_rows(connection, model.__table__, rows, progress)
            task = progress.add_task("seeding credits, messages, memos", total=credits)
            for low in range(1, credits + 1, CHUNK):
                high = min(low + CHUNK, credits + 1)
                for model, rows in zip(bulk, _chunk(plan, low, high, rng), strict=True):
                    if rows:
                        write_rows(connection, model.__table__, rows)
                progress.advance(task, high - low)
            untracked = [_stray(credits + n, now) for n in range(1, UNTRACKED + 1)]
            write_rows(connection, LedgerMemo.__table__, untracked)
            _analyse(connection, progress, bulk)
        after_bulk_load(connection, [m.__table__ for m in (Team, User, Account)])

    # Every planted memo is a vendor memo; each missing credit lacks one.
    expected = {
        "vendor_memos": credits - MISSING + UNTRACKED,
        "matched": credits - MISSING - MISMATCHED,
        "mismatched": MISMATCHED,
        "untracked": UNTRACKED,
        "missing": MISSING,
    }
    period = ((now - SPAN - timedelta(days=1)).date(), (now + timedelta(days=1)).date())
    return expected, period


def _analyse(connection: sa.Connection, progress: Progress, models: tuple) -> None:
    task: TaskID = progress.add_task("analysing", total=None)
    after_bulk_load(connection, [model.__table__ for model in models])
    progress.remove_task(task)


def _chunk(
    plan: _Plan, low: int, high: int, rng: random.Random
) -> tuple[list[dict[str, Any]], ...]:
    cases: dict[int, dict[str, Any]] = {}
    credits, messages, memos = [], [], []
    for credit_id in range(low, high):
        created = plan.start + plan.step * credit_id
        case_id = (credit_id - 1) // CREDITS_PER_CASE + 1
        case = cases.get(case_id)
        if case is None:
            case = cases[case_id] = _case(plan, case_id, rng, created)
        credit = credit_row(credit_id, case, CreditStatus.APPLIED, rng, created)
        # The memo's id is the credit's: LM-<id> is its reference both ways.
        credit["external_ref"] = f"LM-{credit_id:08d}"
        credits.append(credit)
        messages.append(_message(credit_id, created, credit["decided_at"]))
        if credit_id not in plan.missing:
            memos.append(_memo(credit, mismatched=credit_id in plan.mismatched))
    return list(cases.values()), credits, messages, memos


def _case(
    plan: _Plan, case_id: int, rng: random.Random, opened: datetime
) -> dict[str, Any]:
    agent_id = plan.agents[case_id % len(plan.agents)]
    account = plan.accounts[rng.randrange(len(plan.accounts))]
    return case_row(
        case_id,
        agent_id=agent_id,
        team_id=plan.team_of[agent_id],
        account=(account["id"], account["currency"]),
        rng=rng,
        opened=opened,
    )


def _message(credit_id: int, created: datetime, sent: datetime) -> dict[str, Any]:
    # Message and credit share an id, so the memo's key is outbox-<credit id>.
    return {
        "id": credit_id,
        "topic": CREDIT_POST,
        "payload": {"credit_id": credit_id},
        "status": "delivered",
        "attempts": 1,
        "available_at": created,
        "lease_owner": None,
        "lease_expires_at": None,
        "last_error": None,
        "created_at": created,
        "delivered_at": sent,
    }


def _memo(credit: dict[str, Any], *, mismatched: bool) -> dict[str, Any]:
    amount = credit["amount_minor"] + (100 if mismatched else 0)
    return {
        "id": credit["id"],
        "idempotency_key": f"outbox-{credit['id']}",
        "account_id": credit["account_id"],
        "credit_id": credit["id"],
        "amount_minor": amount,
        "currency": credit["currency"],
        "status": "applied",
        "created_at": credit["decided_at"],
        "applied_at": credit["decided_at"],
        "reversal_key": None,
        "reversed_at": None,
    }


def _stray(memo_id: int, now: datetime) -> dict[str, Any]:
    # Raised in the ledger by hand, for no credit of ours.
    return {
        "id": memo_id,
        "idempotency_key": f"manual-{memo_id}",
        "account_id": 1,
        "credit_id": None,
        "amount_minor": 1_000,
        "currency": "GBP",
        "status": "applied",
        "created_at": now,
        "applied_at": now,
        "reversal_key": None,
        "reversed_at": None,
    }


# -- measuring ---------------------------------------------------------------


def _measure(url: str, period: tuple[date, date]) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=reconcile_once, args=(url, period, results))
    process.start()
    try:
        measured = results.get(timeout=RUN_TIMEOUT_SECONDS)
    finally:
        process.join(RUN_TIMEOUT_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()
    if "error" in measured:
        raise RuntimeError(f"reconciliation failed: {measured['error']}")
    return measured


def reconcile_once(url: str, period: tuple[date, date], results: Any) -> None:
    """In a fresh process: one ledger reconciliation, timed and sampled."""
    configure_logging(level="WARNING")
    engine = create_engine(url, pool_size=2)
    factory = make_session_factory(engine)
    start, end = period
    try:
        with StackSampler() as sampler:
            started = time.perf_counter()
            run_id = reconcile(
                factory,
                system=BillingSystem.LEDGER,
                source=source_for("ledger", factory),
                start=start,
                end=end,
                user=None,
                actor=BENCH_ACTOR,
                now=lambda: datetime.now(UTC),
            )
            seconds = time.perf_counter() - started
        with factory() as session:
            run = session.get_one(ReconciliationRun, run_id)
            counts = {name: getattr(run, name) for name in COUNTED}
    except Exception as exc:
        # The parent reports it; a silent child would only time out.
        results.put({"error": repr(exc)})
        return
    finally:
        engine.dispose()
    results.put(
        {
            "seconds": seconds,
            "peak_rss_kib": _peak_rss_kib(),
            "counts": counts,
            "ours": sampler.ours(),
            "leaves": sampler.leaves(),
        }
    )


def _peak_rss_kib() -> int:
    # VmHWM, not ru_maxrss: the spawned child was forked from the seeder, and
    # ru_maxrss keeps the high-water mark of the process before exec.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status (not Linux?)")
