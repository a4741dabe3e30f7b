"""Keyword-only factories with unique random values, so tests never collide."""

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from creditdesk.access.service import issue_token
from creditdesk.accounts import service as accounts
from creditdesk.accounts.models import Account, AccountStatus, Contract
from creditdesk.actors import Actor, Channel
from creditdesk.cases import service as cases
from creditdesk.cases.models import Case, CaseType
from creditdesk.db import transaction
from creditdesk.users.models import Role, Team, User

TEST_ACTOR = Actor.system(Channel.CLI, name="tests")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def now() -> datetime:
    return datetime.now(UTC)


def make_team(session: Session, *, name: str | None = None) -> Team:
    team = Team(name=name or unique("team"), created_at=now())
    session.add(team)
    session.flush()
    return team


def make_user(
    session: Session,
    *,
    role: Role = Role.AGENT,
    team: Team | None = None,
    manager: User | None = None,
    username: str | None = None,
) -> User:
    name = username or unique(role.value.replace("_", "-"))
    user = User(
        username=name,
        display_name=name.title(),
        email=f"{name}@example.test",
        role=role,
        team_id=team.id if team else None,
        manager_id=manager.id if manager else None,
        created_at=now(),
    )
    session.add(user)
    session.flush()
    return user


def make_token(session: Session, *, user: User) -> str:
    return issue_token(
        session, user=user, actor=TEST_ACTOR, now=now(), ttl=timedelta(days=1)
    )


def make_account(
    session: Session,
    *,
    currency: str = "GBP",
    status: AccountStatus = AccountStatus.ACTIVE,
    team: Team | None = None,
) -> Account:
    return accounts.create_account(
        session,
        name=unique("Customer"),
        currency=currency,
        number=unique("ACC"),
        status=status,
        team_id=team.id if team else None,
        actor=TEST_ACTOR,
        now=now(),
    )


def make_contract(
    session: Session,
    *,
    account: Account,
    product: str = "broadband",
    cap_minor: int = 100_000,
    credit_types: list[str] | None = None,
    starts_on: date | None = None,
    ends_on: date | None = None,
) -> Contract:
    today = now().date()
    return accounts.create_contract(
        session,
        account_id=account.id,
        product=product,
        starts_on=starts_on or today - timedelta(days=365),
        ends_on=ends_on,
        credit_cap_minor=cap_minor,
        credit_types=credit_types,
        actor=TEST_ACTOR,
        now=now(),
    )


def make_case(
    session: Session,
    *,
    account: Account,
    owner: User,
    product: str | None = "broadband",
    subject: str = "Overcharged by £10",
    disputed_minor: int | None = None,
    type: CaseType = CaseType.BILLING_DISPUTE,
) -> Case:
    return cases.create_case(
        session,
        account_id=account.id,
        subject=subject,
        type=type,
        product=product,
        owner=owner,
        disputed_amount_minor=disputed_minor,
        actor=TEST_ACTOR,
        now=now(),
    )


@dataclass
class Org:
    """A small contact centre: agent -> team lead -> manager, plus finance."""

    team: Team
    agent: User
    junior: User
    lead: User
    manager: User
    finance: User
    finance_2: User
    auditor: User
    admin: User
    tokens: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def make_org(factory: sessionmaker[Session]) -> Org:
    with transaction(factory) as session:
        team = make_team(session)
        manager = make_user(session, role=Role.MANAGER, team=team)
        lead = make_user(session, role=Role.TEAM_LEAD, team=team, manager=manager)
        users = {
            "manager": manager,
            "lead": lead,
            "agent": make_user(session, role=Role.AGENT, team=team, manager=lead),
            "junior": make_user(
                session, role=Role.JUNIOR_AGENT, team=team, manager=lead
            ),
            "finance": make_user(session, role=Role.FINANCE),
            "finance_2": make_user(session, role=Role.FINANCE),
            "auditor": make_user(session, role=Role.AUDITOR),
            "admin": make_user(session, role=Role.ADMIN),
        }
        tokens = {k: make_token(session, user=u) for k, u in users.items()}
    return Org(team=team, tokens=tokens, **users)


@dataclass
class Customer:
    account: Account
    contract: Contract
    case: Case


def make_customer(
    factory: sessionmaker[Session],
    *,
    owner: User,
    currency: str = "GBP",
    cap_minor: int = 100_000,
    disputed_minor: int | None = None,
    product: str = "broadband",
    starts_on: date | None = None,
) -> Customer:
    with transaction(factory) as session:
        account = make_account(session, currency=currency)
        contract = make_contract(
            session,
            account=account,
            product=product,
            cap_minor=cap_minor,
            starts_on=starts_on,
        )
        case = make_case(
            session,
            account=account,
            owner=owner,
            product=product,
            disputed_minor=disputed_minor,
        )
    return Customer(account=account, contract=contract, case=case)
