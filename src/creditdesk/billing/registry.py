"""Which adapter speaks to which billing system: wired in this one place."""

from sqlalchemy.orm import Session, sessionmaker

from creditdesk.accounts.models import BillingSystem
from creditdesk.billing.adapters import BillingAdapter
from creditdesk.billing.ledger import LedgerAdapter
from creditdesk.clock import Clock
from creditdesk.config import Settings
from creditdesk.integrations import sap
from creditdesk.integrations.salesforce.adapter import SalesforceAdapter
from creditdesk.integrations.salesforce.settings import SalesforceSettings
from creditdesk.integrations.webhook.adapter import WebhookAdapter
from creditdesk.integrations.webhook.settings import WebhookSettings
from creditdesk.integrations.zuora.adapter import zuora_adapter
from creditdesk.outbox.errors import PermanentError


def adapter_for(
    system: BillingSystem,
    *,
    session_factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
) -> BillingAdapter:
    """The adapter for an account's billing system.

    A system without an adapter is a permanent failure: retrying would not
    configure it. Vendor adapters read their credentials from ``settings``.
    """
    if system == BillingSystem.LEDGER:
        return LedgerAdapter(session_factory, clock=clock)
    if system == BillingSystem.SALESFORCE:
        salesforce = SalesforceSettings()
        if salesforce.is_configured:
            return SalesforceAdapter.from_settings(salesforce, clock=clock)
    if system == BillingSystem.WEBHOOK:
        webhook = WebhookSettings()
        if webhook.is_configured:
            return WebhookAdapter.from_settings(webhook, clock=clock)
    if system == BillingSystem.ZUORA and (zuora := zuora_adapter(clock=clock)):
        return zuora
    if system == BillingSystem.SAP:
        return sap.build_adapter(session_factory=session_factory)
    raise PermanentError(f"billing system {system.value!r} is not configured")
