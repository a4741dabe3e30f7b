"""Accounts and their contracts; both are audited like every other change."""

import secrets
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from creditdesk.accounts.models import (
    Account,
    AccountStatus,
    BillingSystem,
    Contract,
    ContractStatus,
)
from creditdesk.actors import Actor
from creditdesk.audit import service as audit
from creditdesk.errors import Conflict, NotFound, ValidationFailed
from creditdesk.invoices.models import Invoice
from creditdesk.money import MoneyError, currency_exponent
from creditdesk.policy import service as policy
from creditdesk.users.models import Team


def get_account(session: Session, account_id: int) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(f"account {account_id} does not exist")
    return account


def get_account_for_input(
    session: Session, account_id: int, *, lock: bool = False
) -> Account:
    """An account named in a request body: unknown is bad input (422).
    ``lock`` holds its row until the transaction ends (PostgreSQL)."""
    account = session.get(Account, account_id, with_for_update=lock)
    if account is None:
        raise ValidationFailed.on("account_id", f"account {account_id} does not exist")
    return account


def create_account(
    session: Session,
    *,
    name: str,
    currency: str,
    actor: Actor,
    now: datetime,
    number: str | None = None,
    billing_system: BillingSystem = BillingSystem.LEDGER,
    external_account_id: str | None = None,
    status: AccountStatus = AccountStatus.ACTIVE,
    team_id: int | None = None,
) -> Account:
    try:
        currency_exponent(currency)
    except MoneyError as error:
        raise ValidationFailed.on("currency", str(error)) from None
    _check_team(session, team_id)
    number = number or f"ACC-{secrets.token_hex(4).upper()}"
    taken = session.scalar(sa.select(Account.id).where(Account.number == number))
    if taken is not None:
        raise Conflict(
            f"account number {number} is already in use",
            [],
            {"field": "number"},
        )

    account = Account(
        number=number,
        name=name,
        currency=currency,
        status=status,
        billing_system=billing_system,
        external_account_id=external_account_id,
        team_id=team_id,
        created_at=now,
    )
    session.add(account)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="account.created",
        entity_type="account",
        entity_id=account.id,
        changes={
            "number": (None, number),
            "name": (None, name),
            "currency": (None, currency),
            "status": (None, status),
            "billing_system": (None, billing_system),
            "team_id": (None, team_id),
        },
        now=now,
    )
    return account


def move_account(
    session: Session,
    *,
    account_id: int,
    team_id: int | None,
    actor: Actor,
    now: datetime,
) -> Account:
    """Give the account to ``team_id`` (None: to no team). Its invoices, past
    ones included, then count as that team's billed revenue."""
    account = get_account(session, account_id)
    _check_team(session, team_id)
    if account.team_id == team_id:
        return account
    before = account.team_id
    account.team_id = team_id
    session.execute(
        sa.update(Invoice)
        .where(Invoice.account_id == account.id)
        .values(team_id=team_id)
    )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="account.moved",
        entity_type="account",
        entity_id=account.id,
        changes={"team_id": (before, team_id)},
        now=now,
    )
    return account


def _check_team(session: Session, team_id: int | None) -> None:
    if team_id is not None and session.get(Team, team_id) is None:
        raise ValidationFailed.on("team_id", f"team {team_id} does not exist")


def create_contract(
    session: Session,
    *,
    account_id: int,
    product: str,
    starts_on: date,
    ends_on: date | None,
    credit_cap_minor: int,
    actor: Actor,
    now: datetime,
    credit_types: list[str] | None = None,
) -> Contract:
    account = get_account_for_input(session, account_id)
    if ends_on is not None and ends_on < starts_on:
        raise ValidationFailed.on("ends_on", "ends_on is before starts_on")
    if credit_cap_minor < 0:
        raise ValidationFailed.on("credit_cap", "the credit cap cannot be negative")
    _check_credit_types(session, credit_types)

    contract = Contract(
        account_id=account.id,
        product=product,
        starts_on=starts_on,
        ends_on=ends_on,
        status=ContractStatus.ACTIVE,
        credit_types=credit_types,
        credit_cap_minor=credit_cap_minor,
        created_at=now,
    )
    session.add(contract)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="contract.created",
        entity_type="contract",
        entity_id=contract.id,
        changes={
            "account_id": (None, account.id),
            "product": (None, product),
            "starts_on": (None, starts_on),
            "ends_on": (None, ends_on),
            "credit_cap_minor": (None, credit_cap_minor),
            "credit_types": (None, credit_types),
        },
        now=now,
    )
    return contract


def _check_credit_types(session: Session, credit_types: list[str] | None) -> None:
    if credit_types is None:
        return
    known = policy.active_policy(session).policy.credit_types
    unknown = sorted(set(credit_types) - set(known))
    if unknown:
        raise ValidationFailed.on(
            "credit_types",
            f"unknown credit types {', '.join(unknown)}; the policy knows "
            f"{', '.join(sorted(known))}",
        )


def contracts_of(session: Session, account_id: int) -> list[Contract]:
    return list(
        session.scalars(
            sa.select(Contract)
            .where(Contract.account_id == account_id)
            .order_by(Contract.id)
        )
    )
