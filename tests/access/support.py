"""An organisation for access tests, and credits owned by whoever a test needs.

Two teams and a third whose credits a sharing rule opens to team A::

    director (manager)
    ├── manager (A) ── lead (A) ──┬── agent (A)
    │                             └── junior (A)
    └── manager_peer (A) ── lead_peer (A) ── agent_peer (A)
    b_lead (B) ── b_agent (B)
    c_lead (C) ── c_agent (C)
    finance, auditor, admin (no team)
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.access import sharing
from creditdesk.access.models import GroupKind, ShareAccess
from creditdesk.access.service import actor_for
from creditdesk.actors import Channel
from creditdesk.config import Settings
from creditdesk.credits import service as credits
from creditdesk.credits.schemas import CreditIn
from creditdesk.db import transaction
from creditdesk.users.models import Role, User
from tests.api_helpers import credit_body
from tests.factories import make_customer, make_team, make_token, make_user

# key -> (role, team, manager key)
PEOPLE: dict[str, tuple[Role, str | None, str | None]] = {
    "director": (Role.MANAGER, None, None),
    "manager": (Role.MANAGER, "a", "director"),
    "manager_peer": (Role.MANAGER, "a", "director"),
    "lead": (Role.TEAM_LEAD, "a", "manager"),
    "lead_peer": (Role.TEAM_LEAD, "a", "manager_peer"),
    "agent": (Role.AGENT, "a", "lead"),
    "agent_peer": (Role.AGENT, "a", "lead_peer"),
    "junior": (Role.JUNIOR_AGENT, "a", "lead"),
    "b_lead": (Role.TEAM_LEAD, "b", None),
    "b_agent": (Role.AGENT, "b", "b_lead"),
    "c_lead": (Role.TEAM_LEAD, "c", None),
    "c_agent": (Role.AGENT, "c", "c_lead"),
    "finance": (Role.FINANCE, None, None),
    "auditor": (Role.AUDITOR, None, None),
    "admin": (Role.ADMIN, None, None),
}


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class AccessOrg:
    users: dict[str, User]
    teams: dict[str, int]
    tokens: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def id(self, who: str) -> int:
        return self.users[who].id


def make_access_org(factory: sessionmaker[Session]) -> AccessOrg:
    """The organisation above, with team A granted team C's credits by rule."""
    with transaction(factory) as session:
        teams = {key: make_team(session).id for key in ("a", "b", "c")}
        users: dict[str, User] = {}
        for key, (role, team, manager) in PEOPLE.items():
            users[key] = make_user(session, role=role, manager=users.get(manager or ""))
            users[key].team_id = teams[team] if team else None
        session.flush()
        tokens = {key: make_token(session, user=user) for key, user in users.items()}
        sharing.create_rule(
            session,
            grantee_kind=GroupKind.TEAM,
            grantee=str(teams["a"]),
            owner_kind=GroupKind.TEAM,
            owner=str(teams["c"]),
            access=ShareAccess.READ,
            user=users["admin"],
            actor=actor_for(users["admin"], Channel.CLI),
            now=now(),
        )
    return AccessOrg(users=users, teams=teams, tokens=tokens)


@dataclass(frozen=True)
class Made:
    credit_id: int
    case_id: int
    account_id: int


def make_credit(
    factory: sessionmaker[Session],
    requester: User,
    amount: str = "100.00",
    *,
    cap_minor: int = 100_000,
) -> Made:
    """A credit raised by ``requester`` on a case they own (100.00 waits for
    the requester's manager)."""
    customer = make_customer(factory, owner=requester, cap_minor=cap_minor)
    with transaction(factory) as session:
        user = session.get(User, requester.id)
        assert user is not None
        credit = credits.raise_credit(
            session,
            data=CreditIn.model_validate(credit_body(customer.case.id, amount)),
            requester=user,
            actor=actor_for(user, Channel.CLI),
            now=now(),
            settings=Settings(),
        )
        return Made(credit.id, customer.case.id, customer.account.id)


def share(
    factory: sessionmaker[Session],
    credit_id: int,
    *,
    owner: User,
    grantee: User,
    access: ShareAccess = ShareAccess.READ,
    revoke: bool = False,
) -> int:
    """Share as ``owner`` (and revoke straight away when asked)."""
    with transaction(factory) as session:
        actor = actor_for(owner, Channel.CLI)
        made = sharing.share_credit(
            session,
            credit_id=credit_id,
            user_id=grantee.id,
            access=access,
            user=owner,
            actor=actor,
            now=now(),
        )
        if revoke:
            sharing.revoke_share(
                session,
                credit_id=credit_id,
                share_id=made.id,
                user=owner,
                actor=actor,
                now=now(),
            )
        return made.id


def add_person(
    factory: sessionmaker[Session],
    people: AccessOrg,
    key: str,
    role: Role,
    *,
    team: int | None = None,
    manager: str | None = None,
) -> User:
    """One more person in ``people``, with a token."""
    with transaction(factory) as session:
        boss = people.users[manager] if manager else None
        user = make_user(session, role=role, manager=boss)
        user.team_id = team
        session.flush()
        people.tokens[key] = make_token(session, user=user)
    people.users[key] = user
    return user


def new_team(factory: sessionmaker[Session]) -> int:
    with transaction(factory) as session:
        return make_team(session).id


def listed_ids(client: TestClient, path: str, headers: dict[str, str]) -> list[int]:
    """Every id in a paged list, following cursors to the end."""
    ids: list[int] = []
    cursor = None
    while True:
        params = {"limit": 200} | ({"cursor": cursor} if cursor else {})
        page = client.get(path, params=params, headers=headers)
        assert page.status_code == 200, page.text
        ids += [item["id"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return ids
