"""The ROI report's baselines: what the process cost before creditdesk.

Read from the environment with the ``CREDITDESK_ROI_`` prefix, e.g.
``CREDITDESK_ROI_RESOLUTION_DAYS=3``.
"""

from decimal import Decimal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from creditdesk.money import MoneyError, currency_exponent, parse_amount


class RoiBaselines(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CREDITDESK_ROI_", env_file=".env", extra="ignore"
    )

    # Mean days from a billing case opened to resolved.
    resolution_days: Decimal = Field(default=Decimal("2.5"), ge=0)
    # Postings that failed or needed correction, plus reconciliation mismatches.
    manual_errors_per_month: Decimal = Field(default=Decimal("15"), ge=0)
    # Credits given outside any record, found later, a year: a decimal amount.
    untracked_per_year: str = "20000.00"
    untracked_currency: str = "GBP"
    # Cases one agent resolves on one working day.
    cases_per_agent_day: Decimal = Field(default=Decimal("8"), ge=0)

    @field_validator("untracked_currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        try:
            currency_exponent(value)
        except MoneyError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _amount_in_currency(self) -> "RoiBaselines":
        # Refused at start-up, not when the first ROI report is asked for.
        try:
            parse_amount(self.untracked_per_year, self.untracked_currency)
        except MoneyError as exc:
            raise ValueError(f"untracked_per_year: {exc}") from None
        return self

    @property
    def untracked_minor_per_year(self) -> int:
        return parse_amount(self.untracked_per_year, self.untracked_currency)
