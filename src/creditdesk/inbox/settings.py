"""Callback secrets, read from ``CREDITDESK_INBOX_*``."""

import os

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class InboxSettings(BaseSettings):
    """One shared secret per billing system that may call us back.

    A system without a secret has no callback endpoint: its calls are 404.
    """

    model_config = SettingsConfigDict(
        env_prefix="CREDITDESK_INBOX_",
        env_file=".env",
        extra="ignore",
        frozen=True,
        secrets_dir=os.environ.get("CREDITDESK_SECRETS_DIR"),
    )

    webhook_secret: SecretStr | None = None
    zuora_secret: SecretStr | None = None
    sap_secret: SecretStr | None = None
    salesforce_secret: SecretStr | None = None
    # Zuora callouts send either basic auth (this user, the secret as the
    # password) or the secret in a custom header of this name.
    zuora_username: str = Field(default="zuora", min_length=1, max_length=100)
    zuora_token_header: str = Field(
        default="X-Creditdesk-Token", min_length=1, max_length=100
    )
    # How far a signed callback's timestamp may be from our clock.
    tolerance_seconds: int = Field(default=300, ge=1, le=3600)

    def secret_for(self, system: str) -> str | None:
        """The system's secret, or None when it may not call back."""
        secret = getattr(self, f"{system}_secret", None)
        if secret is None or not secret.get_secret_value():
            return None
        return secret.get_secret_value()
