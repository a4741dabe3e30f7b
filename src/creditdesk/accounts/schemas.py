from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from creditdesk.accounts.models import AccountStatus, BillingSystem, ContractStatus
from creditdesk.money import MoneyError, currency_exponent


def check_currency(value: str) -> str:
    try:
        currency_exponent(value)
    except MoneyError as error:
        raise ValueError(str(error)) from None
    return value


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    currency: str
    number: str | None = Field(default=None, min_length=1, max_length=40)
    billing_system: BillingSystem = BillingSystem.LEDGER
    external_account_id: str | None = Field(default=None, max_length=100)
    team_id: int | None = Field(
        default=None,
        description="The team that looks after the customer; the leakage "
        "report counts the account's invoices as its billed revenue.",
    )

    _currency = field_validator("currency")(check_currency)


class AccountPatch(BaseModel):
    """Move the account to another team (``null``: to no team)."""

    model_config = ConfigDict(extra="forbid")

    team_id: int | None


class AccountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    number: str
    name: str
    currency: str
    status: AccountStatus
    billing_system: BillingSystem
    external_account_id: str | None
    team_id: int | None
    created_at: datetime


class ContractIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: int
    product: str = Field(min_length=1, max_length=100)
    starts_on: date
    ends_on: date | None = None
    credit_cap: str = Field(description='Rolling 30-day cap, e.g. "300.00"')
    credit_types: list[str] | None = None


class ContractOut(BaseModel):
    id: int
    account_id: int
    product: str
    starts_on: date
    ends_on: date | None
    status: ContractStatus
    credit_types: list[str] | None
    credit_cap: str
    currency: str
