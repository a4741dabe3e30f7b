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
from creditdesk.reconciliation.models import ReconciliationFinding, ReconciliationRun
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
