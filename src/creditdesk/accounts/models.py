from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from creditdesk.db import Base, BigId, str_enum, utcnow_column


class AccountStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class BillingSystem(StrEnum):
    LEDGER = "ledger"
    ZUORA = "zuora"
    SAP = "sap"
    SALESFORCE = "salesforce"
    WEBHOOK = "webhook"


class ContractStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    currency: Mapped[str] = mapped_column(sa.String(3))
    status: Mapped[AccountStatus] = mapped_column(
        str_enum(AccountStatus, "account_status"), default=AccountStatus.ACTIVE
    )
    billing_system: Mapped[BillingSystem] = mapped_column(
        str_enum(BillingSystem, "billing_system"), default=BillingSystem.LEDGER
    )
    external_account_id: Mapped[str | None] = mapped_column(sa.String(100))
    # The team that looks after the customer: the leakage report counts the
    # account's invoices as that team's billed revenue. None: no team's.
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id"), index=True)
    created_at: Mapped[datetime] = utcnow_column()


class Contract(Base):
    """An entitlement: which product, when, which credit types, what cap."""

    __tablename__ = "contracts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    product: Mapped[str] = mapped_column(sa.String(100))
    starts_on: Mapped[date]
    ends_on: Mapped[date | None]
    status: Mapped[ContractStatus] = mapped_column(
        str_enum(ContractStatus, "contract_status"), default=ContractStatus.ACTIVE
    )
    # None allows every credit type the policy knows.
    credit_types: Mapped[list[str] | None] = mapped_column(sa.JSON)
    # Credits on the account in any rolling 30 days, in the account's currency.
    credit_cap_minor: Mapped[int] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = utcnow_column()
