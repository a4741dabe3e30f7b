"""A billing-operations desk: a database of its own (so its workers see only its
messages and its failed postings reach only its finance users), an app and
workers on one FrozenClock, a small organisation, and credits that posted or
failed to post."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.accounts.models import Account, BillingSystem
from creditdesk.app import create_app
from creditdesk.approvals.models import WorkItem, WorkItemKind
from creditdesk.audit.models import AuditEntry
from creditdesk.billing.models import LedgerEntry
from creditdesk.clock import FrozenClock
from creditdesk.config import Settings
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.db import create_engine, make_session_factory, transaction
from creditdesk.outbox.models import OutboxMessage
from creditdesk.outbox.worker import Worker
from tests.billing import support
from tests.billing.support import Approved
from tests.databases import scratch_database, server_url
from tests.factories import Org, make_org

START = datetime(2024, 3, 4, 10, 0, tzinfo=UTC)
WHY = "The customer's account moved to the ledger; post it there."


@dataclass
class Desk:
    factory: sessionmaker[Session]
    client: TestClient
    clock: FrozenClock
    settings: Settings
    org: Org
    url: str

    def get(self, path: str, who: str, **params: Any) -> httpx.Response:
        return self.client.get(
            f"/api/v1{path}", headers=self.org.auth(who), params=params
        )

    def post(self, path: str, who: str, body: Any = None) -> httpx.Response:
        return self.client.post(f"/api/v1{path}", headers=self.org.auth(who), json=body)

    def worker(self, *, name: str = "ops-desk") -> Worker:
        return Worker(self.factory, clock=self.clock, settings=self.settings, name=name)

    def drain(self) -> int:
        """Run the default worker until it finds nothing to do."""
        worker = self.worker()
        done = 0
        while handled := worker.run_once():
            done += handled
        return done

    def approved(self, **options: Any) -> Approved:
        """An approved credit with its credit.post message queued."""
        return support.make_approved_credit(self.factory, now=self.clock(), **options)

    def applied(self, **options: Any) -> Approved:
        """A credit posted to the built-in ledger and applied there."""
        approved = self.approved(**options)
        self.drain()
        assert self.credit(approved).status is CreditStatus.APPLIED
        return approved

    def failed(self, **options: Any) -> Approved:
        """A credit whose posting failed for good: its account's billing system
        has no adapter, so the message is dead and finance has work items."""
        approved = self.approved(system=BillingSystem.ZUORA, **options)
        self.drain()
        assert self.credit(approved).status is CreditStatus.POSTING_FAILED
        return approved

    def set_system(self, approved: Approved, system: BillingSystem) -> None:
        with transaction(self.factory) as session:
            session.get_one(Account, approved.account_id).billing_system = system

    def credit(self, approved: Approved) -> BillingCredit:
        return support.credit(self.factory, approved)

    def message(self, message_id: int) -> OutboxMessage:
        with self.factory() as session:
            return session.get_one(OutboxMessage, message_id)

    def messages(self, credit_id: int, topic: str) -> list[OutboxMessage]:
        with self.factory() as session:
            query = sa.select(OutboxMessage).where(
                OutboxMessage.topic == topic,
                OutboxMessage.payload["credit_id"].as_integer() == credit_id,
            )
            return list(session.scalars(query.order_by(OutboxMessage.id)))

    def handoffs(self, credit_id: int) -> list[WorkItem]:
        with self.factory() as session:
            query = sa.select(WorkItem).where(
                WorkItem.credit_id == credit_id,
                WorkItem.kind == WorkItemKind.POSTING_FAILED,
            )
            return list(session.scalars(query.order_by(WorkItem.id)))

    def audit(self, entity_type: str, entity_id: int, action: str) -> list[AuditEntry]:
        with self.factory() as session:
            query = sa.select(AuditEntry).where(
                AuditEntry.entity_type == entity_type,
                AuditEntry.entity_id == str(entity_id),
                AuditEntry.action == action,
            )
            return list(session.scalars(query.order_by(AuditEntry.seq)))

    def reversals(self, approved: Approved) -> list[LedgerEntry]:
        """Ledger entries that gave the credit's amount back to the account."""
        with self.factory() as session:
            query = sa.select(LedgerEntry).where(
                LedgerEntry.account_id == approved.account_id,
                LedgerEntry.amount_minor > 0,
            )
            return list(session.scalars(query))


@contextmanager
def open_desk(directory: Path) -> Iterator[Desk]:
    with scratch_database(
        server_url(), prefix="creditdesk_ops", directory=directory
    ) as url:
        engine = create_engine(url)
        settings = Settings(
            database_url=url,
            env="test",
            outbox_max_attempts=2,
            outbox_backoff_base_seconds=5,
            outbox_backoff_max_seconds=10,
        )
        clock = FrozenClock(START)
        factory = make_session_factory(engine)
        app = create_app(settings, engine=engine, clock=clock)
        try:
            with TestClient(app) as client:
                yield Desk(factory, client, clock, settings, make_org(factory), url)
        finally:
            engine.dispose()
