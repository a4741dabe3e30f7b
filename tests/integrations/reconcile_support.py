"""Reconciling a vendor fake with credits posted to it by the real worker.

Each module gets a database of its own: a run reads every credit of the
system, and a credit left unposted on purpose must not reach another suite's
worker.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from creditdesk.accounts.models import Account, BillingSystem
from creditdesk.actors import Actor, Channel
from creditdesk.billing.adapters import BillingAdapter
from creditdesk.billing.tasks import PostCredit
from creditdesk.clock import FrozenClock
from creditdesk.config import Settings
from creditdesk.credits.models import BillingCredit
from creditdesk.db import create_engine, make_session_factory, transaction
from creditdesk.outbox.registry import CREDIT_POST
from creditdesk.outbox.worker import Worker
from creditdesk.reconciliation import service
from creditdesk.reconciliation.models import (
    FindingKind,
    ReconciliationFinding,
    ReconciliationRun,
)
from creditdesk.reconciliation.sources import MemoSource
from tests.billing import support
from tests.billing.support import Approved
from tests.databases import scratch_database, server_url

COUNTS = ("vendor_memos", "matched", "untracked", "missing", "mismatched")


@contextmanager
def own_database(directory: Path) -> Iterator[sessionmaker[Session]]:
    with scratch_database(server_url(), directory=directory) as url:
        engine = create_engine(url)
        try:
            yield make_session_factory(engine)
        finally:
            engine.dispose()


def approved_credit(
    factory: sessionmaker[Session],
    clock: FrozenClock,
    *,
    system: BillingSystem,
    external_account_id: str,
    amount_minor: int,
    currency: str = "GBP",
) -> Approved:
    """An approved credit, queued for posting, on an account the vendor knows,
    naming no invoice (vendors credit it as goodwill)."""
    approved = support.make_approved_credit(
        factory,
        now=clock(),
        system=system,
        amount_minor=amount_minor,
        currency=currency,
    )
    with transaction(factory) as session:
        account = session.get_one(Account, approved.account_id)
        account.external_account_id = external_account_id
        session.get_one(BillingCredit, approved.credit_id).invoice_ref = None
    return approved


def post_all(
    factory: sessionmaker[Session], clock: FrozenClock, adapter: BillingAdapter
) -> int:
    """One pass of the real outbox worker, posting through ``adapter``."""
    handlers = {CREDIT_POST: PostCredit(lambda *_a, **_k: adapter)}
    worker = Worker(
        factory,
        clock=clock,
        settings=Settings(env="test"),
        name="reconcile-test",
        handlers=handlers,
    )
    return worker.run_once()


def reconcile(
    factory: sessionmaker[Session],
    clock: FrozenClock,
    *,
    system: BillingSystem,
    source: MemoSource,
    start: date,
    end: date,
) -> tuple[dict[str, int], list[ReconciliationFinding]]:
    """Run a reconciliation; its counts and what it stored."""
    run_id = service.reconcile(
        factory,
        system=system,
        source=source,
        start=start,
        end=end,
        user=None,
        actor=Actor.system(Channel.CLI, "reconcile-test"),
        now=clock,
    )
    with factory() as session:
        run = session.get_one(ReconciliationRun, run_id)
        counts = {name: getattr(run, name) for name in COUNTS}
        found = list(
            session.query(ReconciliationFinding)
            .filter(ReconciliationFinding.run_id == run_id)
            .order_by(ReconciliationFinding.id)
        )
        session.expunge_all()
    return counts, found


def assert_one_of_each_kind(
    counts: dict[str, int],
    found: list[ReconciliationFinding],
    *,
    missing: int,
    mismatched: int,
    untracked_ref: str,
    untracked_key: str = "manual-adjustment-1",
) -> None:
    """What every vendor's scenario plants: two memos that match, one changed
    from 11.00 to 11.01, one raised by hand under ``untracked_key``, and
    one approved credit that never reached the vendor."""
    assert counts == {
        "vendor_memos": 4,
        "matched": 2,
        "untracked": 1,
        "missing": 1,
        "mismatched": 1,
    }
    by_kind = {f.kind: f for f in found}
    assert by_kind[FindingKind.MISSING].credit_id == missing
    changed = by_kind[FindingKind.MISMATCHED]
    assert changed.credit_id == mismatched
    assert (changed.our_amount_minor, changed.vendor_amount_minor) == (1_100, 1_101)
    untracked = by_kind[FindingKind.UNTRACKED]
    assert (untracked.external_ref, untracked.credit_id) == (untracked_ref, None)
    assert untracked.idempotency_key == untracked_key
