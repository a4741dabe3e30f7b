"""A scratch organisation with its own approval policy, driven over the API.

Each test module gets its own database (a policy applies to the whole
database), so the people a queue fans out to are only the ones this module
made. The policy picks a chain by amount, one chain per band, so a test
chooses the chain it exercises by the amount it raises.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.approvals.models import ApprovalStep, WorkItem
from creditdesk.audit.models import AuditEntry
from creditdesk.credits.models import BillingCredit
from creditdesk.db import transaction
from creditdesk.outbox.models import OutboxMessage
from creditdesk.policy.schemas import default_policy_text
from creditdesk.users.models import Role, Team, User
from tests.api_helpers import credit_body
from tests.factories import Customer, make_customer, make_team, make_token, make_user

# The upper end of each band, in GBP. Amounts just below a bound pick its band.
MANAGER = "100.00"
GROUP_FIRST = "200.00"
GROUP_ALL = "300.00"
FINANCE_QUEUE = "400.00"
NAMED_USER = "500.00"
MISSING_USER = "600.00"
MANAGER_THEN_FINANCE_BACK = "700.00"
MANAGER_BACK = "800.00"
MISSING_GROUP_ALL = "900.00"
TEAM_LEAD_QUEUE = "1000.00"
THREE_STEPS = "2000.00"

AUTO_LIMIT = "20.00"


@dataclass(frozen=True)
class Person:
    user: User
    headers: dict[str, str]

    @property
    def id(self) -> int:
        return self.user.id


@dataclass
class World:
    """The module's database, app client and the people the policy names."""

    factory: sessionmaker[Session]
    client: TestClient
    group: list[Person] = field(default_factory=list)
    named: Person | None = None

    # People --------------------------------------------------------------

    def person(
        self,
        role: Role,
        *,
        manager: Person | None = None,
        team: Team | None = None,
    ) -> Person:
        with transaction(self.factory) as session:
            user = make_user(
                session,
                role=role,
                team=team,
                manager=manager.user if manager else None,
            )
            token = make_token(session, user=user)
        return Person(user, {"Authorization": f"Bearer {token}"})

    def team(self) -> Team:
        with transaction(self.factory) as session:
            return make_team(session)

    def line(self) -> "Line":
        """A fresh reporting line: agent -> team lead -> manager -> director."""
        team = self.team()
        director = self.person(Role.MANAGER, team=team)
        manager = self.person(Role.MANAGER, team=team, manager=director)
        lead = self.person(Role.TEAM_LEAD, team=team, manager=manager)
        agent = self.person(Role.AGENT, team=team, manager=lead)
        return Line(team, agent, lead, manager, director)

    def customer(self, owner: Person, *, cap_minor: int = 10_000_000) -> Customer:
        return make_customer(self.factory, owner=owner.user, cap_minor=cap_minor)

    # API -----------------------------------------------------------------

    def raise_credit(
        self, who: Person, amount: str, *, customer: Customer | None = None
    ) -> dict[str, Any]:
        customer = customer or self.customer(who)
        response = self.client.post(
            "/api/v1/credits",
            json=credit_body(customer.case.id, amount),
            headers=who.headers,
        )
        assert response.status_code == 201, response.text
        return response.json()

    def post(self, path: str, who: Person, body: dict[str, Any] | None = None) -> Any:
        return self.client.post(f"/api/v1{path}", json=body, headers=who.headers)

    def get(self, path: str, who: Person, **params: Any) -> Any:
        return self.client.get(f"/api/v1{path}", params=params, headers=who.headers)

    def credit(self, credit_id: int, who: Person) -> dict[str, Any]:
        response = self.get(f"/credits/{credit_id}", who)
        assert response.status_code == 200, response.text
        return response.json()

    # Reading back --------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.factory() as session:
            yield session

    def items(self, credit_id: int, **where: Any) -> list[WorkItem]:
        with self.session() as session:
            query = sa.select(WorkItem).where(WorkItem.credit_id == credit_id)
            for name, value in where.items():
                query = query.where(getattr(WorkItem, name) == value)
            return list(session.scalars(query.order_by(WorkItem.id)))

    def open_items(self, credit_id: int, **where: Any) -> list[WorkItem]:
        return self.items(credit_id, status="pending", **where)

    def item_of(self, credit_id: int, person: Person) -> WorkItem:
        (item,) = self.open_items(credit_id, assignee_id=person.id)
        return item

    def steps(self, credit_id: int) -> list[ApprovalStep]:
        with self.session() as session:
            return list(
                session.scalars(
                    sa.select(ApprovalStep)
                    .where(ApprovalStep.credit_id == credit_id)
                    .order_by(ApprovalStep.request_id, ApprovalStep.sequence)
                )
            )

    def actions(self, credit_id: int) -> list[str]:
        with self.session() as session:
            return list(
                session.scalars(
                    sa.select(AuditEntry.action)
                    .where(
                        AuditEntry.entity_type == "credit",
                        AuditEntry.entity_id == str(credit_id),
                    )
                    .order_by(AuditEntry.seq)
                )
            )

    def postings(self, credit_id: int) -> int:
        with self.session() as session:
            rows = session.scalars(
                sa.select(OutboxMessage.payload).where(
                    OutboxMessage.topic == "credit.post"
                )
            )
            return sum(1 for payload in rows if payload["credit_id"] == credit_id)

    def status(self, credit_id: int) -> str:
        with self.session() as session:
            return session.get_one(BillingCredit, credit_id).status.value

    def eligible(self, role: Role) -> set[int]:
        """Active members of ``role``: who a queue step fans out to when none
        of them is kept out by the segregation of duties."""
        with self.session() as session:
            return set(
                session.scalars(
                    sa.select(User.id).where(User.role == role, User.is_active)
                )
            )


@dataclass(frozen=True)
class Line:
    team: Team
    agent: Person
    lead: Person
    manager: Person
    director: Person


# Approvers the policy names who leave before any credit reaches them: a
# policy may only name active users, so they exist when it is applied and are
# deactivated straight after.
GHOSTS = ("nobody-here-x0", "nobody-a-x1", "nobody-b-x2", "nobody-c-x3")


def policy_text(group: list[str], named: str) -> str:
    """The shipped policy with one band per kind of chain."""

    def band(up_to: str, steps: str) -> str:
        amounts = f'{{GBP: "{up_to}", EUR: "{up_to}", USD: "{up_to}"}}'
        return f"    - up_to: {amounts}\n      steps: {steps}\n"

    members = "[" + ", ".join(group) + "]"
    ghosts = "[" + ", ".join(GHOSTS[1:]) + "]"
    bands = (
        band(MANAGER, "[manager]")
        + band(GROUP_FIRST, f"[{{approver: {members}}}]")
        + band(GROUP_ALL, f"[{{approver: {members}, mode: all}}]")
        + band(FINANCE_QUEUE, "['queue:finance']")
        + band(NAMED_USER, f"['user:{named}']")
        + band(MISSING_USER, f"['user:{GHOSTS[0]}']")
        + band(
            MANAGER_THEN_FINANCE_BACK,
            "[manager, {approver: finance, on_reject: back}]",
        )
        + band(MANAGER_BACK, "[{approver: manager, on_reject: back}]")
        + band(MISSING_GROUP_ALL, f"[{{approver: {ghosts}, mode: all}}]")
        + band(TEAM_LEAD_QUEUE, "['queue:team_lead']")
        + band(THREE_STEPS, "[manager, manager_2, finance]")
    )
    matrix = (
        "approval_matrix:\n  bands:\n"
        + bands
        + f'  refuse_above: {{GBP: "{THREE_STEPS}", EUR: "{THREE_STEPS}", '
        f'USD: "{THREE_STEPS}"}}\n\n'
    )
    text = default_policy_text()
    start = text.index("approval_matrix:")
    end = text.index("# Deadlines and reminders")
    return text[:start] + matrix + text[end:]
