"""Salesforce settings, read from ``CREDITDESK_SALESFORCE_*``."""

import os
from pathlib import Path
from typing import Literal

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
    # How creditdesk signs in: the connected app's secret (client
    # credentials), or an assertion signed with its private key (JWT bearer).
    auth_flow: Literal["client_credentials", "jwt_bearer"] = "client_credentials"
    client_secret: SecretStr | None = None
    # JWT bearer: the integration user the assertion names (``sub``), the
    # PEM private key whose certificate the connected app holds (inline, or
    # a file path), and the ``aud`` Salesforce expects: login.salesforce.com
    # for production, test.salesforce.com for a sandbox.
    username: str | None = None
    private_key: SecretStr | None = None
    private_key_file: Path | None = None
    jwt_audience: str = "https://login.salesforce.com"
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
        if not (self.login_url and self.client_id):
            return False
        if self.auth_flow == "jwt_bearer":
            has_key = self.private_key is not None or self.private_key_file is not None
            return bool(self.username) and has_key
        return self.client_secret is not None

    def signing_key(self) -> SecretStr:
        """The JWT bearer flow's PEM private key, inline or read from its file.

        Read when a token is fetched, so a rotated key file takes effect at
        the next sign-in without a restart.
        """
        if self.private_key is not None:
            return self.private_key
        if self.private_key_file is None:
            raise ValueError("no Salesforce private key is configured")
        return SecretStr(self.private_key_file.read_text())
