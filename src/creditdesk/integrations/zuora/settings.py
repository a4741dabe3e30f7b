"""Zuora settings, read from the environment (prefix ``CREDITDESK_ZUORA_``)."""

import os
from functools import lru_cache

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Our reason codes and the Zuora reason code each becomes. Zuora refuses a
# reason code its tenant does not define; "Correcting invoice error" and
# "Goodwill" are among those a tenant has out of the box, so the defaults
# work before anyone adds codes of their own.
DEFAULT_REASON_CODES: dict[str, str] = {
    "overcharge": "Correcting invoice error",
    "billing_error": "Correcting invoice error",
    "service_outage": "Goodwill",
    "late_delivery": "Goodwill",
    "retention": "Goodwill",
    "goodwill": "Goodwill",
    "other": "Goodwill",
}


class ZuoraSettings(BaseSettings):
    """Where Zuora is and how creditdesk signs in and books its memos."""

    model_config = SettingsConfigDict(
        env_prefix="CREDITDESK_ZUORA_",
        env_file=".env",
        extra="ignore",
        secrets_dir=os.environ.get("CREDITDESK_SECRETS_DIR"),
    )

    base_url: str = ""
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    # The product rate plan charge a credit without an invoice is booked on.
    charge_id: str = ""
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    retry_attempts: int = Field(default=3, ge=1, le=10)
    # Our reason -> Zuora reason code; entries given here replace the defaults
    # one by one (JSON in the environment).
    reason_codes: dict[str, str] = Field(default_factory=dict)
    # The credit memo custom field that carries our idempotency key, so a
    # memo can be found after Zuora has forgotten the Idempotency-Key.
    idempotency_field: str = Field(default="IdempotencyKey__c", pattern=r"^\w+__c$")
    # The minor version whose field names the adapter speaks (``amount`` and
    # ``chargeId`` on charge-based memos).
    api_version: str = "224.0"

    @field_validator("base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.strip().rstrip("/")

    @field_validator("reason_codes")
    @classmethod
    def _over_defaults(cls, value: dict[str, str]) -> dict[str, str]:
        return {**DEFAULT_REASON_CODES, **value}

    @property
    def is_configured(self) -> bool:
        return bool(
            self.base_url and self.client_id and self.client_secret.get_secret_value()
        )

    def reason_code(self, reason: str) -> str:
        """The Zuora reason code for one of our reasons."""
        codes = self.reason_codes or DEFAULT_REASON_CODES
        return codes.get(reason, codes.get("other", "Goodwill"))


@lru_cache
def get_zuora_settings() -> ZuoraSettings:
    return ZuoraSettings()
