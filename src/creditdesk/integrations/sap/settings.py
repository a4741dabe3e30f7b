"""Settings for SAP S/4HANA, read from ``CREDITDESK_SAP_*``.

The organisational values (sales organisation, distribution channel,
division, document type, material, order reasons) are the tenant's
customising: nothing posts until they name what exists there.
"""

import os
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Our reason codes (the shipped policy's) and the SAP order reason each is
# posted with. SAP's order reasons are customising (SDDocumentReason, three
# characters), so replace these with the tenant's own codes.
DEFAULT_ORDER_REASONS = {
    "overcharge": "001",
    "billing_error": "002",
    "service_outage": "003",
    "late_delivery": "004",
    "retention": "005",
    "goodwill": "006",
    "other": "007",
}


class SapSettings(BaseSettings):
    """Where the S/4HANA system is, how to sign in, and how memos are typed."""

    model_config = SettingsConfigDict(
        env_prefix="CREDITDESK_SAP_",
        env_file=".env",
        extra="ignore",
        secrets_dir=os.environ.get("CREDITDESK_SECRETS_DIR") or None,
    )

    # The system's host, e.g. https://my123456-api.s4hana.ondemand.com; the
    # service path is added by the adapter.
    base_url: str = ""
    auth_mode: Literal["basic", "oauth"] = "basic"
    username: str = ""
    password: SecretStr | None = None
    client_id: str = ""
    client_secret: SecretStr | None = None
    # Relative to base_url, or an absolute URL on another host.
    token_path: str = "/sap/bc/sec/oauth2/token"  # noqa: S105 - a path
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # After a create whose answer was lost, how long SAP may still be making
    # it: the next attempt's lookup waits this long. Set it above the
    # gateway's own request timeout (ICM, web dispatcher, proxies).
    settle_seconds: int = Field(default=120, ge=0, le=3600)

    sales_organization: str = Field(default="", max_length=4)
    distribution_channel: str = Field(default="10", max_length=2)
    division: str = Field(default="00", max_length=2)
    document_type: str = Field(default="CR", max_length=4)
    material: str = Field(default="", max_length=40)
    quantity_unit: str = Field(default="EA", max_length=3)
    # The manual price condition that carries the credit's amount.
    condition_type: str = Field(default="PMP0", max_length=4)
    order_reasons: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_ORDER_REASONS)
    )
    # The reason for rejection (SalesDocumentRjcnReason, two characters, the
    # tenant's customising) a voided credit's memo request items are given.
    rejection_reason: str = Field(default="", max_length=2)
    # Put before the outbox key in PurchaseOrderByCustomer. Give each
    # deployment that shares one SAP client its own, or one would take the
    # other's memo requests for its own.
    key_prefix: str = Field(default="creditdesk-", max_length=12)

    @property
    def is_configured(self) -> bool:
        """True when a memo request could be sent: host, sign-in, sales area."""
        required = (self.base_url, self.sales_organization, self.material)
        return all(value.strip() for value in required) and self._has_credentials

    @property
    def _has_credentials(self) -> bool:
        if self.auth_mode == "basic":
            return bool(self.username) and self.password is not None
        return bool(self.client_id) and self.client_secret is not None
