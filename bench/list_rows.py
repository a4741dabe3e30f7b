"""The rows of a contact centre's year: people, customers, cases, credits.

Plain dicts keyed by column name, ids assigned from 1, ready for a bulk
insert into an empty database (see ``bench.list_seed``).
"""

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from creditdesk.credits.models import CreditStatus, utc_month
from creditdesk.users.models import Role

HISTORY = timedelta(days=365)

# Roughly what a year of a contact centre looks like: most credits applied,
# a tail still moving or stopped on the way.
STATUS_WEIGHTS = {
    CreditStatus.APPLIED: 60,
    CreditStatus.POSTED: 4,
    CreditStatus.APPROVED: 2,
    CreditStatus.POSTING: 1,
    CreditStatus.PENDING_APPROVAL: 8,
    CreditStatus.SUBMITTED: 1,
    CreditStatus.REFUSED: 6,
    CreditStatus.REJECTED: 7,
    CreditStatus.RECALLED: 5,
    CreditStatus.POSTING_FAILED: 2,
    CreditStatus.VOIDED: 4,
}
DECIDED = frozenset(STATUS_WEIGHTS) - {
    CreditStatus.PENDING_APPROVAL,
    CreditStatus.SUBMITTED,
}
SENT = {CreditStatus.POSTED, CreditStatus.APPLIED, CreditStatus.VOIDED}
NEEDED_APPROVAL = {
    CreditStatus.PENDING_APPROVAL,
    CreditStatus.REJECTED,
    CreditStatus.RECALLED,
}
CURRENCIES = ("GBP",) * 8 + ("EUR", "USD")
PRODUCTS = ("broadband", "mobile", "tv")
TYPES = ("dispute", "goodwill", "sla", "other")
REASONS = ("overcharge", "billing_error", "service_outage", "late_delivery")


@dataclass(frozen=True)
class Shape:
    """How big the organisation and its history are."""

    credits: int = 100_000
    teams: int = 10
    agents_per_team: int = 10
    managers: int = 3
    accounts: int = 5_000
    # Agents raise one or two credits on a case before it is resolved.
    max_credits_per_case: int = 2

    @property
    def agents(self) -> int:
        return self.teams * self.agents_per_team


@dataclass
class People:
    teams: list[dict[str, Any]]
    users: list[dict[str, Any]]
    agent_ids: list[int]
    team_of: dict[int, int]
    finance_id: int


def people(shape: Shape, now: datetime) -> People:
    """Managers over team leads over agents, ten-ish to a team, and finance."""
    teams = [
        {"id": t, "name": f"Team {t:02d}", "created_at": now} for t in _ids(shape.teams)
    ]
    users: list[dict[str, Any]] = []

    def add(role: Role, team_id: int | None, manager_id: int | None) -> int:
        user_id = len(users) + 1
        name = f"{role.value.replace('_', '-')}-{user_id:04d}"
        users.append(_user(user_id, name, role, team_id, manager_id, now))
        return user_id

    managers = [add(Role.MANAGER, None, None) for _ in range(shape.managers)]
    leads = {
        team["id"]: add(Role.TEAM_LEAD, team["id"], managers[i % len(managers)])
        for i, team in enumerate(teams)
    }
    agent_ids = [
        add(Role.AGENT, team_id, lead_id)
        for team_id, lead_id in leads.items()
        for _ in range(shape.agents_per_team)
    ]
    finance_id = add(Role.FINANCE, None, None)
    team_of = {u["id"]: u["team_id"] for u in users if u["team_id"] is not None}
    return People(teams, users, agent_ids, team_of, finance_id)


def _user(
    user_id: int,
    name: str,
    role: Role,
    team_id: int | None,
    manager_id: int | None,
    now: datetime,
) -> dict[str, Any]:
    return {
        "id": user_id,
        "username": name,
        "display_name": name.title(),
        "email": f"{name}@example.test",
        "role": role.value,
        "team_id": team_id,
        "manager_id": manager_id,
        "password_hash": None,
        "password_changed_at": None,
        "failed_sign_ins": 0,
        "locked_until": None,
        "is_active": True,
        "created_at": now - HISTORY,
        "updated_at": None,
    }


def customers(
    shape: Shape, rng: random.Random, now: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Accounts, each with one contract whose cap never bites."""
    accounts, contracts = [], []
    for account_id in _ids(shape.accounts):
        accounts.append(
            {
                "id": account_id,
                "number": f"ACC-{account_id:07d}",
                "name": f"Customer {account_id}",
                "currency": rng.choice(CURRENCIES),
                "status": "active",
                "billing_system": "ledger",
                "external_account_id": None,
                "created_at": now - HISTORY - timedelta(days=30),
            }
        )
        contracts.append(
            {
                "id": account_id,
                "account_id": account_id,
                "product": rng.choice(PRODUCTS),
                "starts_on": date(2020, 1, 1),
                "ends_on": None,
                "status": "active",
                "credit_types": None,
                "credit_cap_minor": 1_000_000_000,
                "created_at": now - HISTORY - timedelta(days=30),
            }
        )
    return accounts, contracts


def history(
    shape: Shape,
    org: People,
    currencies: list[str],
    rng: random.Random,
    now: datetime,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Credits in time order, round-robin over the agents so that each one's
    credits are spread over the whole id range, on cases they opened."""
    cases: list[dict[str, Any]] = []
    credits: list[dict[str, Any]] = []
    open_case: dict[int, tuple[dict[str, Any], int]] = {}
    statuses, weights = list(STATUS_WEIGHTS), list(STATUS_WEIGHTS.values())
    step = HISTORY / max(shape.credits, 1)

    for index in range(shape.credits):
        agent_id = org.agent_ids[index % len(org.agent_ids)]
        created = now - HISTORY + step * index
        case, left = open_case.get(agent_id, (None, 0))
        if case is None or left == 0:
            account_id = rng.randint(1, shape.accounts)
            case = case_row(
                len(cases) + 1,
                agent_id=agent_id,
                team_id=org.team_of[agent_id],
                account=(account_id, currencies[account_id - 1]),
                rng=rng,
                opened=created,
            )
            cases.append(case)
            left = rng.randint(1, shape.max_credits_per_case)
        open_case[agent_id] = (case, left - 1)
        status = rng.choices(statuses, weights)[0]
        credits.append(credit_row(index + 1, case, status, rng, created))
    return cases, credits


def case_row(
    case_id: int,
    *,
    agent_id: int,
    team_id: int,
    account: tuple[int, str],
    rng: random.Random,
    opened: datetime,
) -> dict[str, Any]:
    account_id, currency = account
    return {
        "id": case_id,
        "account_id": account_id,
        "subject": f"Billing query {case_id}",
        "description": None,
        "type": "billing_dispute",
        "product": rng.choice(PRODUCTS),
        "invoice_ref": f"INV-{case_id:08d}",
        "disputed_amount_minor": None,
        "currency": currency,
        "status": rng.choice(("open", "resolved", "resolved", "closed")),
        "owner_id": agent_id,
        "team_id": team_id,
        "opened_at": opened,
        "resolved_at": None,
    }


def credit_row(
    credit_id: int,
    case: dict[str, Any],
    status: CreditStatus,
    rng: random.Random,
    created: datetime,
) -> dict[str, Any]:
    decided = created + timedelta(minutes=rng.randint(1, 600))
    sent = status in SENT
    return {
        "id": credit_id,
        "case_id": case["id"],
        "account_id": case["account_id"],
        "requested_by_id": case["owner_id"],
        "team_id": case["team_id"],
        "amount_minor": rng.randint(100, 50_000),
        "currency": case["currency"],
        "type": rng.choice(TYPES),
        "reason": rng.choice(REASONS),
        "justification": f"Customer was overcharged on invoice {case['invoice_ref']}.",
        "product": case["product"],
        "invoice_ref": case["invoice_ref"],
        "status": status.value,
        "policy_version": 1,
        "decision": _decision(status),
        "near_duplicate": False,
        "over_cap": False,
        "external_ref": f"LEDGER-{credit_id:08d}" if sent else None,
        "last_error": "ledger timed out"
        if status is CreditStatus.POSTING_FAILED
        else None,
        "created_at": created,
        "updated_at": decided,
        "decided_at": decided if status in DECIDED else None,
        "posted_at": decided if sent else None,
        "posted_month": utc_month(decided) if sent else None,
        "applied_at": decided if status is CreditStatus.APPLIED else None,
        "version": 1,
    }


def _decision(status: CreditStatus) -> dict[str, Any]:
    if status is CreditStatus.REFUSED:
        outcome, steps, rule = "refused", [], "refuse_above"
    elif status in NEEDED_APPROVAL:
        outcome, steps, rule = "approval_required", ["manager"], "approval_matrix"
    else:
        outcome, steps, rule = "approved", [], "auto_approval_limit"
    return {
        "outcome": outcome,
        "rules": [{"id": rule, "message": f"seeded: {rule}"}],
        "policy_version": 1,
        "steps": steps,
        "flags": [],
    }


def _ids(count: int) -> range:
    return range(1, count + 1)
