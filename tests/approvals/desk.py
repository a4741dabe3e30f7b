"""A desk of its own for approval tests: a fresh database (a test policy and
the timers must reach nobody else's work), an app on a FrozenClock, and a
small organisation."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.actors import Actor, Channel
from creditdesk.app import create_app
from creditdesk.approvals import timers
from creditdesk.approvals.calendar import BusinessCalendar
from creditdesk.approvals.models import WorkItem
from creditdesk.audit.models import AuditEntry
from creditdesk.clock import FrozenClock
from creditdesk.config import Settings
from creditdesk.db import create_engine, make_session_factory, transaction
from creditdesk.outbox.registry import NOTIFICATION_EMAIL, default_handlers
from creditdesk.outbox.worker import Worker
from creditdesk.policy.service import apply_policy
from creditdesk.users.models import Role, Team, User
from tests.api_helpers import raise_credit
from tests.databases import scratch_database, server_url
from tests.factories import Org, make_customer, make_org, make_token, make_user

# A Monday in winter, when London keeps UTC: wall times read as UTC times.
MONDAY = datetime(2023, 1, 9, 9, 0, tzinfo=UTC)
POLICY_ACTOR = Actor.system(Channel.CLI, name="tests:approvals")


@dataclass
class Desk:
    factory: sessionmaker[Session]
    client: TestClient
    clock: FrozenClock
    settings: Settings
    org: Org

    def raise_credit(self, amount: str, *, who: str = "agent") -> dict[str, Any]:
        """A credit raised now by ``who`` on a fresh case of their own."""
        requester = getattr(self.org, who)
        customer = make_customer(
            self.factory, owner=requester, starts_on=date(2000, 1, 1)
        )
        return raise_credit(self.client, self.org.auth(who), customer.case.id, amount)

    def run_timers(self) -> timers.TimerRun:
        return timers.run_due(self.factory, now=self.clock(), settings=self.settings)

    def items(self, credit_id: int) -> list[WorkItem]:
        with self.factory() as session:
            query = sa.select(WorkItem).where(WorkItem.credit_id == credit_id)
            return list(session.scalars(query.order_by(WorkItem.id)))

    def audit(self, entity_type: str, entity_id: int, action: str) -> list[AuditEntry]:
        with self.factory() as session:
            query = sa.select(AuditEntry).where(
                AuditEntry.entity_type == entity_type,
                AuditEntry.entity_id == str(entity_id),
                AuditEntry.action == action,
            )
            return list(session.scalars(query.order_by(AuditEntry.seq)))

    def add_user(self, *, role: Role, manager: User | None = None) -> User:
        """Another member of the organisation's team, with a token."""
        with transaction(self.factory) as session:
            user = make_user(session, role=role, team=self.org.team, manager=manager)
            self.org.tokens[user.username] = make_token(session, user=user)
        return user

    def set_calendar(self, calendar: BusinessCalendar) -> None:
        with transaction(self.factory) as session:
            session.get_one(Team, self.org.team.id).calendar = calendar.to_config()

    def apply_policy(self, text: str) -> None:
        with transaction(self.factory) as session:
            apply_policy(session, text=text, actor=POLICY_ACTOR, now=self.clock())

    def drain_mail(self) -> int:
        """Send every queued e-mail; returns how many were handled."""
        worker = Worker(
            self.factory,
            clock=self.clock,
            settings=self.settings,
            name="approval-mail",
            handlers={NOTIFICATION_EMAIL: default_handlers()[NOTIFICATION_EMAIL]},
        )
        done = 0
        while handled := worker.run_once():
            done += handled
        return done


@contextmanager
def open_desk(directory: Path, settings: Settings) -> Iterator[Desk]:
    with scratch_database(
        server_url(), prefix="creditdesk_approvals", directory=directory
    ) as url:
        engine = create_engine(url)
        settings = settings.model_copy(update={"database_url": url})
        clock = FrozenClock(MONDAY)
        factory = make_session_factory(engine)
        app = create_app(settings, engine=engine, clock=clock)
        try:
            with TestClient(app) as client:
                yield Desk(factory, client, clock, settings, make_org(factory))
        finally:
            engine.dispose()
