"""Settings, read once from the environment (prefix ``CREDITDESK_``)."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CREDITDESK_", env_file=".env", extra="ignore"
    )

    env: Literal["development", "production", "test"] = "development"
    data_dir: Path = Path("data")
    database_url: str = ""
    log_level: str = "INFO"
    log_format: Literal["console", "json", "auto"] = "auto"

    # The built-in worker polls the outbox this often when it finds nothing to do.
    worker_poll_seconds: float = Field(default=0.5, gt=0)
    worker_batch_size: int = Field(default=20, ge=1, le=500)
    # The worker inside `creditdesk serve` waits up to this long before each
    # message while requests are in flight (see api.traffic); 0: never waits.
    embedded_worker_yield_ms: int = Field(default=50, ge=0, le=1000)
    worker_lease_seconds: int = Field(default=60, ge=5)
    outbox_max_attempts: int = Field(default=8, ge=1)
    outbox_backoff_base_seconds: float = Field(default=2.0, gt=0)
    outbox_backoff_max_seconds: float = Field(default=900.0, gt=0)

    idempotency_ttl_hours: int = Field(default=48, ge=24)
    idempotency_lock_seconds: int = Field(default=60, ge=5)

    resolve_case_when_settled: bool = True
    # How long a subscriber may take to answer one event delivery.
    events_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    token_ttl_days: int = Field(default=90, ge=1)
    # How long an authenticated token is trusted without a database lookup;
    # revocations and deactivations take effect within this time.
    auth_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    # How long a process trusts its copy of the field permission overrides; a
    # change made in another process takes effect here within this time.
    field_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    # Web sessions end after this long without a request, and in any case
    # this long after sign-in.
    session_idle_minutes: int = Field(default=30, ge=1)
    session_absolute_hours: int = Field(default=12, ge=1)
    # After this many failed sign-ins in a row each further attempt waits
    # sign_in_backoff_seconds, doubling per failure; after
    # sign_in_lockout_after failures the account is locked for
    # sign_in_lockout_minutes. A successful sign-in resets the count.
    sign_in_throttle_after: int = Field(default=3, ge=1)
    sign_in_backoff_seconds: float = Field(default=1.0, gt=0, le=3600)
    sign_in_lockout_after: int = Field(default=10, ge=1)
    sign_in_lockout_minutes: int = Field(default=15, ge=1)
    secret_key: SecretStr = SecretStr("development-only-secret-change-me")

    # E-mail notifications. Without a host nothing is queued at all, so a
    # laptop without a mail server does not collect undeliverable messages.
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = "creditdesk@localhost"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # Links in e-mails are paths; this makes them absolute for a mail reader.
    public_base_url: str = "http://127.0.0.1:8000"

    @field_validator("database_url")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("smtp_host", "smtp_username")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        # An empty CREDITDESK_SMTP_HOST= in a .env means "no mail server".
        if value is None or not value.strip():
            return None
        return value.strip()

    @property
    def email_enabled(self) -> bool:
        return self.smtp_host is not None

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'creditdesk.db').resolve()}"

    @property
    def json_logs(self) -> bool:
        if self.log_format == "auto":
            return self.env == "production"
        return self.log_format == "json"

    def check_for_production(self) -> None:
        """Refuse to start in production with development defaults."""
        if self.env != "production":
            return
        if self.secret_key.get_secret_value().startswith("development-only"):
            raise ValueError("CREDITDESK_SECRET_KEY must be set in production")


@lru_cache
def get_settings() -> Settings:
    return Settings()
