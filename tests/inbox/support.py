"""A posted credit waiting for its billing system to say the memo was applied,
and callbacks signed as each system signs them."""

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.accounts.models import BillingSystem
from creditdesk.actors import Actor, Channel
from creditdesk.audit.models import AuditEntry
from creditdesk.credits import lifecycle
from creditdesk.db import transaction
from creditdesk.inbox.models import InboxEvent
from creditdesk.integrations import signing
from creditdesk.outbox.models import OutboxMessage, OutboxStatus
from tests.billing import support
from tests.billing.support import Approved
from tests.factories import unique

SECRETS = {
    "webhook": "webhook-inbox-secret",
    "zuora": "zuora-inbox-secret",
    "sap": "sap-inbox-secret",
}


@dataclass
class Posted:
    approved: Approved
    external_ref: str


def make_posted_credit(
    factory: sessionmaker[Session], *, now: datetime, system: BillingSystem
) -> Posted:
    """A credit the worker posted to ``system``, which has not applied it yet."""
    approved = support.make_approved_credit(factory, now=now, system=system)
    ref = unique("MEMO")[:40]
    worker = Actor.system(Channel.WORKER, name="test-worker")
    with transaction(factory) as session:
        credit = lifecycle.load_for_update(session, approved.credit_id)
        lifecycle.start_posting(session, credit, actor=worker, now=now)
        lifecycle.record_posted(
            session, credit, external_ref=ref, actor=worker, now=now
        )
        message = session.get_one(OutboxMessage, approved.message_id)
        message.status = OutboxStatus.DELIVERED
        message.delivered_at = now
    return Posted(approved, ref)


def signed(
    client: TestClient,
    system: str,
    body: dict[str, Any],
    *,
    at: datetime,
    secret: str | None = None,
) -> httpx.Response:
    """POST ``body`` to the system's inbox with an HMAC signature made ``at``."""
    raw = json.dumps(body).encode()
    timestamp = str(int(at.timestamp()))
    signature = signing.sign(secret or SECRETS[system], timestamp, raw)
    headers = {
        "Content-Type": "application/json",
        signing.TIMESTAMP_HEADER: timestamp,
        signing.SIGNATURE_HEADER: signature,
    }
    return client.post(f"/api/v1/inbox/{system}", content=raw, headers=headers)


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def stored(factory: sessionmaker[Session], system: str, event_id: str) -> list[Any]:
    with factory() as session:
        query = sa.select(InboxEvent).where(
            InboxEvent.system == system, InboxEvent.external_event_id == event_id
        )
        return list(session.scalars(query))


def audit(
    factory: sessionmaker[Session], entity_type: str, entity_id: int, action: str
) -> list[AuditEntry]:
    with factory() as session:
        query = sa.select(AuditEntry).where(
            AuditEntry.entity_type == entity_type,
            AuditEntry.entity_id == str(entity_id),
            AuditEntry.action == action,
        )
        return list(session.scalars(query.order_by(AuditEntry.seq)))
