"""Every table, imported in one place so Alembic and the tests see them all."""

from creditdesk.access.models import (
    ApiToken,
    CreditShare,
    FieldPermission,
    SharingRule,
    WebSession,
)
from creditdesk.accounts.models import Account, Contract
from creditdesk.approvals.models import (
    ApprovalRequest,
    ApprovalStep,
    Delegation,
    WorkItem,
)
from creditdesk.audit.models import AuditChainHead, AuditEntry
from creditdesk.billing.models import LedgerEntry, LedgerMemo
from creditdesk.cases.models import Case
from creditdesk.credits.models import BillingCredit
from creditdesk.db import Base
from creditdesk.events.models import EventDelivery, EventSubscription
from creditdesk.idempotency.models import IdempotencyRecord
from creditdesk.inbox.models import InboxEvent
from creditdesk.invoices.models import Invoice
from creditdesk.outbox.models import OutboxMessage
from creditdesk.policy.models import PolicyVersion
from creditdesk.reconciliation.models import ReconciliationFinding, ReconciliationRun
from creditdesk.reports.models import ExchangeRate
from creditdesk.users.models import Team, User

__all__ = [
    "Account",
    "ApiToken",
    "ApprovalRequest",
    "ApprovalStep",
    "AuditChainHead",
    "AuditEntry",
    "Base",
    "BillingCredit",
    "Case",
    "Contract",
    "CreditShare",
    "Delegation",
    "EventDelivery",
    "EventSubscription",
    "ExchangeRate",
    "FieldPermission",
    "IdempotencyRecord",
    "InboxEvent",
    "Invoice",
    "LedgerEntry",
    "LedgerMemo",
    "OutboxMessage",
    "PolicyVersion",
    "ReconciliationFinding",
    "ReconciliationRun",
    "SharingRule",
    "Team",
    "User",
    "WebSession",
    "WorkItem",
]
