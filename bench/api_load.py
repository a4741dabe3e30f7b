"""The API benchmark on one backend: seed, serve, load the bare and credit
endpoints, then read the server's memory and wait for the outbox to drain."""

import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker
from tests.factories import make_case, make_customer, make_org

from bench import load, profiling
from bench.databases import fresh_database, sessions
from bench.process import Server, machine_ticks, serve
from bench.server import BARE_PATH
from creditdesk.db import read_only, transaction
from creditdesk.policy import service as policy

CREDITS_PATH = "/api/v1/credits"

# Far above anything the run can raise, so the rolling cap never bites.
HUGE_CAP_MINOR = 1_000_000_000

# Amounts from 1.00 to 20.00 (the agent's auto-approval limit): each request
# on a case gets a new amount, so the near-duplicate rule never fires.
MIN_MINOR = 100
AMOUNTS = 1901
REASONS = ("overcharge", "billing_error", "service_outage", "late_delivery")

DRAIN_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class LoadPlan:
    requests: int
    warmup: int
    clients: int
    customers: int
    log_level: str
    profile_dir: Path | None
    worker: bool = True


@dataclass
class BackendResult:
    backend: str
    bare: load.PhaseResult
    credits: load.PhaseResult
    peak_rss_kib: int
    rss_kib: int
    drain_seconds: float | None
    credit_statuses: dict[str, int]
    profiles: dict[str, profiling.Profile]


def credit_body_for(case_ids: list[int], customers: int) -> load.BodyFor:
    """Request ``i`` raises a credit on case ``i``, whose account is number
    ``i mod customers``, with an amount new on that account."""

    def body(index: int) -> dict[str, Any]:
        round_ = index // customers
        minor = MIN_MINOR + round_ % AMOUNTS
        return {
            "case_id": case_ids[index],
            "amount": f"{minor // 100}.{minor % 100:02d}",
            "currency": "GBP",
            "type": "dispute",
            "reason": REASONS[round_ % len(REASONS)],
            "justification": f"Customer was overcharged; bench request {index}.",
        }

    return body


def run_backend(backend: str, plan: LoadPlan, log_dir: Path) -> BackendResult:
    """The whole API benchmark against a fresh database of ``backend``."""
    with fresh_database(backend) as url, sessions(url) as factory:
        token, case_ids = seed(
            factory, customers=plan.customers, cases=plan.warmup + plan.requests
        )
        body_for = credit_body_for(case_ids, plan.customers)
        headers = {"Authorization": f"Bearer {token}"}

        with serve(
            url, log_dir=log_dir, log_level=plan.log_level, worker=plan.worker
        ) as server:
            with load.clients(server.base_url, plan.clients, headers) as pool:
                phase = _Phase(pool, body_for, plan, server, backend)
                bare, bare_profile = phase.run("bare", BARE_PATH)
                credits, credits_profile = phase.run("credits", CREDITS_PATH)
            drain_seconds = wait_for_drain(factory) if plan.worker else None
            memory = server.memory_kib()

        return BackendResult(
            backend=backend,
            bare=bare,
            credits=credits,
            peak_rss_kib=memory["VmHWM"],
            rss_kib=memory["VmRSS"],
            drain_seconds=drain_seconds,
            credit_statuses=credit_statuses(factory),
            profiles=_present(credits=credits_profile, bare=bare_profile),
        )


def _present(**profiles: profiling.Profile | None) -> dict[str, profiling.Profile]:
    return {name: p for name, p in profiles.items() if p is not None}


@dataclass
class _Phase:
    pool: list[httpx.Client]
    body_for: load.BodyFor
    plan: LoadPlan
    server: Server
    backend: str

    def run(
        self, name: str, path: str
    ) -> tuple[load.PhaseResult, profiling.Profile | None]:
        """Warm up, then measure (under py-spy when profiling)."""
        load.run_phase(self.pool, path, self.body_for, first=0, count=self.plan.warmup)

        profiler: AbstractContextManager[profiling.Profile | None] = nullcontext()
        if self.plan.profile_dir:
            out = self.plan.profile_dir / self.backend / f"{name}.collapsed"
            profiler = profiling.record(self.server.pid, out)
        cpu_start = self.server.cpu_seconds()
        busy_start, total_start = machine_ticks()
        with profiler as profile:
            result = load.run_phase(
                self.pool,
                path,
                self.body_for,
                first=self.plan.warmup,
                count=self.plan.requests,
            )
        result.server_cpu_seconds = self.server.cpu_seconds() - cpu_start
        busy_end, total_end = machine_ticks()
        result.machine_busy = (busy_end - busy_start) / max(total_end - total_start, 1)
        return result, profile


def seed(
    factory: sessionmaker[Session], *, customers: int, cases: int
) -> tuple[str, list[int]]:
    """An organisation, ``customers`` accounts and ``cases`` open cases spread
    over them; returns the agent's token and the case ids.

    Each request gets a case of its own, as agents raise about one credit per
    case: the worker resolves a case once its credit is applied, and the
    policy refuses credits on a resolved case.
    """
    # Install the default policy now rather than on the first timed request.
    with transaction(factory) as session:
        policy.active_policy(session)

    org = make_org(factory)
    accounts = [
        make_customer(factory, owner=org.agent, cap_minor=HUGE_CAP_MINOR).account
        for _ in range(customers)
    ]
    case_ids: list[int] = []
    with transaction(factory) as session:
        for index in range(cases):
            account = accounts[index % customers]
            case_ids.append(make_case(session, account=account, owner=org.agent).id)
    return org.tokens["agent"], case_ids


def wait_for_drain(factory: sessionmaker[Session]) -> float | None:
    """Seconds until the embedded worker has no pending outbox message left."""
    start = time.monotonic()
    while time.monotonic() - start < DRAIN_TIMEOUT_SECONDS:
        with read_only(factory()) as session:
            pending = session.execute(
                sa.text("SELECT count(*) FROM outbox_messages WHERE status = :s"),
                {"s": "pending"},
            ).scalar_one()
        if pending == 0:
            return time.monotonic() - start
        time.sleep(0.2)
    return None


def credit_statuses(factory: sessionmaker[Session]) -> dict[str, int]:
    with read_only(factory()) as session:
        rows = session.execute(
            sa.text("SELECT status, count(*) FROM billing_credits GROUP BY status")
        ).all()
    return {str(status): int(count) for status, count in rows}
