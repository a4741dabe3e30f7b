"""Webhook settings, read from ``CREDITDESK_WEBHOOK_*``."""

import os

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebhookSettings(BaseSettings):
    """Where credits are posted and the secret that signs them."""

    model_config = SettingsConfigDict(
        env_prefix="CREDITDESK_WEBHOOK_",
        env_file=".env",
        extra="ignore",
        frozen=True,
        secrets_dir=os.environ.get("CREDITDESK_SECRETS_DIR"),
    )

    url: str | None = None
    # Where voided credits' reversals go; unset, ``<url>/reversals``.
    reversal_url: str | None = None
    secret: SecretStr | None = None
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @property
    def is_configured(self) -> bool:
        return bool(self.url and self.secret and self.secret.get_secret_value())
