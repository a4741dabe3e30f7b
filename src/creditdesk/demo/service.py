"""A small, believable contact centre to try creditdesk with.

Two agent teams, their leads and manager, finance, an auditor and an admin;
twenty customer accounts with contracts, half looked after by each team, and
their last three monthly invoices; a handful of open cases. Building it
twice changes nothing: every record is looked up by its fixed username,
account number or (account, subject) before it is created.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from creditdesk.accounts import service as accounts
from creditdesk.accounts.models import Account, AccountStatus
from creditdesk.actors import Actor
from creditdesk.auth import passwords
from creditdesk.cases import service as cases
from creditdesk.cases.models import Case, CaseType
from creditdesk.demo.invoices import build_invoices
from creditdesk.money import parse_amount
from creditdesk.users import service as users
from creditdesk.users.models import Role, User

log = structlog.get_logger(__name__)

NORTH = "Billing North"
SOUTH = "Billing South"
MANAGEMENT = "Contact Centre Management"
FINANCE = "Finance"

# Every demo user signs in to the web console with this (README, "Web
# console"). It is set only on users without a password, never in production.
DEMO_PASSWORD = "creditdesk-demo"  # noqa: S105 - documented, for demo data only


@dataclass(frozen=True, slots=True)
class DemoUser:
    username: str
    display_name: str
    role: Role
    team: str | None
    manager: str | None


# Managers come before the people who report to them.
USERS: tuple[DemoUser, ...] = (
    DemoUser("maya.manager", "Maya Okafor", Role.MANAGER, MANAGEMENT, None),
    DemoUser("tara.lead", "Tara Lindqvist", Role.TEAM_LEAD, NORTH, "maya.manager"),
    DemoUser("alex.agent", "Alex Moreno", Role.AGENT, NORTH, "tara.lead"),
    DemoUser("jade.junior", "Jade Whitfield", Role.JUNIOR_AGENT, NORTH, "tara.lead"),
    DemoUser("tom.lead", "Tom Achterberg", Role.TEAM_LEAD, SOUTH, "maya.manager"),
    DemoUser("sam.agent", "Sam Oduya", Role.AGENT, SOUTH, "tom.lead"),
    DemoUser("jon.junior", "Jon Kowalski", Role.JUNIOR_AGENT, SOUTH, "tom.lead"),
    DemoUser("fin.finance", "Fiona Castellanos", Role.FINANCE, FINANCE, None),
    DemoUser("aud.auditor", "Aurelio Dossou", Role.AUDITOR, None, None),
    DemoUser("ada.admin", "Ada Brennan", Role.ADMIN, None, None),
)


CONSUMER_CAP, BUSINESS_CAP = "300.00", "1000.00"


@dataclass(frozen=True, slots=True)
class DemoAccount:
    number: str
    name: str
    currency: str
    # The product the contract covers; None leaves the account without one,
    # so a credit on it is refused by the policy.
    product: str | None
    cap: str = CONSUMER_CAP
    status: AccountStatus = AccountStatus.ACTIVE


_SUSPENDED = AccountStatus.SUSPENDED
# The accounts Billing South looks after; Billing North has the others. Each
# team has the accounts its people's demo cases are on.
SOUTH_ACCOUNTS = frozenset(
    f"DEMO-{n}" for n in (1005, 1006, 1007, 1008, 1011, 1012, 1014, 1016, 1018, 1020)
)

ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("DEMO-1001", "Olivia Bennett", "GBP", "broadband"),
    DemoAccount("DEMO-1002", "Harper & Vale Ltd", "GBP", "broadband", BUSINESS_CAP),
    DemoAccount("DEMO-1003", "Priya Raman", "GBP", "mobile"),
    DemoAccount("DEMO-1004", "George Ashworth", "GBP", "tv"),
    DemoAccount("DEMO-1005", "Lucía Fernández", "EUR", "tv"),
    DemoAccount("DEMO-1006", "Callum Reid", "GBP", "mobile"),
    DemoAccount("DEMO-1007", "Aoife Gallagher", "EUR", "broadband"),
    DemoAccount("DEMO-1008", "Matteo Rossi", "EUR", "mobile"),
    DemoAccount("DEMO-1009", "Northgate Dental Practice", "GBP", "broadband"),
    DemoAccount("DEMO-1010", "Hannah Price", "GBP", "tv"),
    DemoAccount("DEMO-1011", "Samuel Adeyemi", "GBP", "broadband"),
    DemoAccount(
        "DEMO-1012", "Brasserie Lefèvre SARL", "EUR", "broadband", BUSINESS_CAP
    ),
    DemoAccount("DEMO-1013", "Emily Clarke", "GBP", "mobile"),
    DemoAccount("DEMO-1014", "Jonas Weber", "EUR", "tv"),
    DemoAccount("DEMO-1015", "Rhys Morgan", "GBP", "mobile", status=_SUSPENDED),
    DemoAccount("DEMO-1016", "Sofia Lindgren", "EUR", "mobile", status=_SUSPENDED),
    DemoAccount("DEMO-1017", "Daniel Okonkwo", "GBP", "tv"),
    DemoAccount("DEMO-1018", "Chloe Dubois", "EUR", "broadband"),
    DemoAccount("DEMO-1019", "Fraser & Daughters Plumbing", "GBP", "mobile"),
    DemoAccount("DEMO-1020", "Niamh Byrne", "EUR", None),
)


@dataclass(frozen=True, slots=True)
class DemoCase:
    account: str
    subject: str
    type: CaseType
    product: str
    owner: str
    disputed: str | None = None
    invoice_ref: str | None = None
    description: str | None = None


_DISPUTE = CaseType.BILLING_DISPUTE
_SERVICE = CaseType.SERVICE_ISSUE

CASES: tuple[DemoCase, ...] = (
    DemoCase(
        "DEMO-1001",
        "Overcharged by £10",
        _DISPUTE,
        "broadband",
        "alex.agent",
        disputed="10.00",
        invoice_ref="INV-1001-0042",
        description="The customer was billed £10 above the agreed monthly price.",
    ),
    DemoCase(
        "DEMO-1002",
        "Broadband outage for three days",
        _SERVICE,
        "broadband",
        "alex.agent",
    ),
    DemoCase(
        "DEMO-1003",
        "Roaming charges disputed",
        _DISPUTE,
        "mobile",
        "jade.junior",
        disputed="45.60",
        invoice_ref="INV-1003-0017",
    ),
    DemoCase(
        "DEMO-1005",
        "Charged twice for the sports pack",
        _DISPUTE,
        "tv",
        "sam.agent",
        disputed="19.99",
        invoice_ref="INV-1005-0008",
    ),
    DemoCase(
        "DEMO-1008", "Mobile data not working abroad", _SERVICE, "mobile", "jon.junior"
    ),
    DemoCase(
        "DEMO-1011",
        "Late payment fee charged in error",
        _DISPUTE,
        "broadband",
        "tom.lead",
        disputed="12.50",
        invoice_ref="INV-1011-0023",
    ),
    DemoCase(
        "DEMO-1015",
        "Billed while the line was suspended",
        _DISPUTE,
        "mobile",
        "alex.agent",
        disputed="30.00",
    ),
    DemoCase(
        "DEMO-1020", "TV channels missing after upgrade", _SERVICE, "tv", "sam.agent"
    ),
)


@dataclass
class DemoOrg:
    """The demo records, in a stable order, and how many this run created."""

    users: list[User] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)
    created: int = 0


def build_demo(session: Session, *, actor: Actor, now: datetime) -> DemoOrg:
    """Create whatever part of the demo organisation is missing; flush only."""
    org = DemoOrg()
    by_username = _build_users(session, org, actor=actor, now=now)
    by_number = _build_accounts(session, org, actor=actor, now=now)
    _build_cases(session, org, by_username, by_number, actor=actor, now=now)
    org.created += build_invoices(
        session,
        by_number,
        last_refs={c.account: c.invoice_ref for c in CASES if c.invoice_ref},
        plans={a.number: (a.product, a.cap == BUSINESS_CAP) for a in ACCOUNTS},
        recorder=by_username["fin.finance"],
        actor=actor,
        now=now,
    )
    log.info(
        "demo.built",
        users=len(org.users),
        accounts=len(org.accounts),
        cases=len(org.cases),
        created=org.created,
    )
    return org


def _build_users(
    session: Session, org: DemoOrg, *, actor: Actor, now: datetime
) -> dict[str, User]:
    by_username: dict[str, User] = {}
    for spec in USERS:
        user = session.scalars(
            sa.select(User).where(User.username == spec.username)
        ).one_or_none()
        if user is None:
            user = users.create_user(
                session,
                username=spec.username,
                display_name=spec.display_name,
                email=f"{spec.username}@example.com",
                role=spec.role,
                team=spec.team,
                manager=spec.manager,
                actor=actor,
                now=now,
            )
            org.created += 1
        by_username[spec.username] = user
        org.users.append(user)
    return by_username


def _build_accounts(
    session: Session, org: DemoOrg, *, actor: Actor, now: datetime
) -> dict[str, Account]:
    by_number: dict[str, Account] = {}
    for spec in ACCOUNTS:
        account = session.scalars(
            sa.select(Account).where(Account.number == spec.number)
        ).one_or_none()
        if account is None:
            account = _create_account(session, spec, actor=actor, now=now)
            org.created += 1
        by_number[spec.number] = account
        org.accounts.append(account)
    return by_number


def _create_account(
    session: Session, spec: DemoAccount, *, actor: Actor, now: datetime
) -> Account:
    team = users.get_or_create_team(
        session,
        name=SOUTH if spec.number in SOUTH_ACCOUNTS else NORTH,
        actor=actor,
        now=now,
    )
    account = accounts.create_account(
        session,
        name=spec.name,
        currency=spec.currency,
        number=spec.number,
        status=spec.status,
        team_id=team.id,
        actor=actor,
        now=now,
    )
    if spec.product is not None:
        # The contract is created with its account, so an existing demo
        # account never gets a second one.
        accounts.create_contract(
            session,
            account_id=account.id,
            product=spec.product,
            starts_on=_contract_start(now),
            ends_on=None,
            credit_cap_minor=parse_amount(spec.cap, spec.currency),
            actor=actor,
            now=now,
        )
    return account


def _contract_start(now: datetime) -> date:
    # A year back, so cases and credits dated today fall well inside it.
    return now.date() - timedelta(days=365)


def _build_cases(
    session: Session,
    org: DemoOrg,
    by_username: dict[str, User],
    by_number: dict[str, Account],
    *,
    actor: Actor,
    now: datetime,
) -> None:
    for spec in CASES:
        account = by_number[spec.account]
        case = session.scalars(
            sa.select(Case)
            .where(Case.account_id == account.id, Case.subject == spec.subject)
            .order_by(Case.id)
            .limit(1)
        ).one_or_none()
        if case is None:
            case = cases.create_case(
                session,
                account_id=account.id,
                subject=spec.subject,
                type=spec.type,
                product=spec.product,
                owner=by_username[spec.owner],
                actor=actor,
                now=now,
                description=spec.description,
                invoice_ref=spec.invoice_ref,
                disputed_amount_minor=(
                    parse_amount(spec.disputed, account.currency)
                    if spec.disputed
                    else None
                ),
            )
            org.created += 1
        org.cases.append(case)


def give_passwords(
    session: Session,
    org: DemoOrg,
    *,
    password: str = DEMO_PASSWORD,
    actor: Actor,
    now: datetime,
) -> int:
    """Let the demo users who have no password sign in with ``password``;
    one who has set their own keeps it. Returns how many were given one."""
    given = 0
    for user in org.users:
        if user.password_hash is None:
            passwords.set_password(
                session, user=user, password=password, actor=actor, now=now
            )
            given += 1
    log.info("demo.passwords_set", users=given)
    return given
