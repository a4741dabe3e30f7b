"""Salesforce settings, read from ``CREDITDESK_SALESFORCE_*``."""

import os

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SalesforceSettings(BaseSettings):
    """Where the org lives and how creditdesk signs in to it.

    Frozen, so that equal settings share one signed-in client.
    """

    model_config = SettingsConfigDict(
        env_prefix="CREDITDESK_SALESFORCE_",
        env_file=".env",
        extra="ignore",
        frozen=True,
        secrets_dir=os.environ.get("CREDITDESK_SECRETS_DIR"),
    )

    # The org's My Domain URL: the client credentials flow is not served by
    # the generic login.salesforce.com host.
    login_url: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    api_version: str = Field(default="v60.0", pattern=r"^v[0-9]+\.[0-9]$")
    # A unique, external-ID text field on blng__CreditNote__c holding our
    # idempotency key. It is written into SOQL, so only an API name will do.
    key_field: str = Field(
        default="Creditdesk_Key__c", pattern=r"^[A-Za-z][A-Za-z0-9_]*__c$"
    )
    # Multi-currency orgs carry CurrencyIsoCode on every record; a
    # single-currency org has no such field and refuses it.
    multi_currency: bool = True
    # A single-currency org's currency, which its records do not name;
    # reconciliation needs it to read their amounts.
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @property
    def is_configured(self) -> bool:
        return bool(self.login_url and self.client_id and self.client_secret)
