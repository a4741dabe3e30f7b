from fastapi import APIRouter, status

from creditdesk.access.service import Permission, require
from creditdesk.accounts import service
from creditdesk.accounts.models import Contract
from creditdesk.accounts.schemas import (
    AccountIn,
    AccountOut,
    AccountPatch,
    ContractIn,
    ContractOut,
)
from creditdesk.api.deps import CurrentActor, CurrentUser, DbSession, Now
from creditdesk.errors import ValidationFailed
from creditdesk.money import MoneyError, format_amount, parse_amount

router = APIRouter(tags=["accounts"])


def contract_out(contract: Contract, currency: str) -> ContractOut:
    return ContractOut(
        id=contract.id,
        account_id=contract.account_id,
        product=contract.product,
        starts_on=contract.starts_on,
        ends_on=contract.ends_on,
        status=contract.status,
        credit_types=contract.credit_types,
        credit_cap=format_amount(contract.credit_cap_minor, currency),
        currency=currency,
    )


@router.post("/accounts", status_code=status.HTTP_201_CREATED)
def create_account(
    body: AccountIn,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
) -> AccountOut:
    """Register a customer account (finance and admins)."""
    require(user, Permission.MANAGE_ACCOUNTS)
    account = service.create_account(
        session,
        name=body.name,
        currency=body.currency,
        number=body.number,
        billing_system=body.billing_system,
        external_account_id=body.external_account_id,
        team_id=body.team_id,
        actor=actor,
        now=now,
    )
    return AccountOut.model_validate(account)


@router.patch("/accounts/{account_id}")
def patch_account(
    account_id: int,
    body: AccountPatch,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
) -> AccountOut:
    """Move an account to another team (finance and admins); audited."""
    require(user, Permission.MANAGE_ACCOUNTS)
    account = service.move_account(
        session, account_id=account_id, team_id=body.team_id, actor=actor, now=now
    )
    return AccountOut.model_validate(account)


@router.get("/accounts/{account_id}")
def get_account(account_id: int, session: DbSession, _user: CurrentUser) -> AccountOut:
    """An account; every signed-in user may read accounts."""
    return AccountOut.model_validate(service.get_account(session, account_id))


@router.get("/accounts/{account_id}/contracts")
def list_contracts(
    account_id: int, session: DbSession, _user: CurrentUser
) -> list[ContractOut]:
    """The account's contracts (entitlements), oldest first."""
    account = service.get_account(session, account_id)
    return [
        contract_out(c, account.currency)
        for c in service.contracts_of(session, account.id)
    ]


@router.post("/contracts", status_code=status.HTTP_201_CREATED)
def create_contract(
    body: ContractIn,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
) -> ContractOut:
    """Add a contract that makes credits on a product eligible."""
    require(user, Permission.MANAGE_ACCOUNTS)
    account = service.get_account_for_input(session, body.account_id)
    try:
        cap = parse_amount(body.credit_cap, account.currency)
    except MoneyError as error:
        raise ValidationFailed.on("credit_cap", str(error)) from None

    contract = service.create_contract(
        session,
        account_id=account.id,
        product=body.product,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        credit_cap_minor=cap,
        credit_types=body.credit_types,
        actor=actor,
        now=now,
    )
    return contract_out(contract, account.currency)
