"""The organisation behind a generated history: teams, people and customers.

Pure: rows are plain tuples in the column order of ``history_columns``, ids
are counted up from the bases the writer found free, and every choice comes
from the caller's ``random.Random``, so one seed gives one organisation.
"""

import random
from dataclasses import dataclass, field

from creditdesk.demo.history_time import Stamps

# Team names a history uses; none of them is a name the small demo uses.
TEAM_SITES = (
    "Leeds",
    "Glasgow",
    "Cardiff",
    "Dublin",
    "Bristol",
    "Lyon",
    "Porto",
    "Belfast",
    "Newcastle",
    "Rotterdam",
    "Cork",
    "Sheffield",
)
OPERATIONS_TEAM = "History Operations Management"
FINANCE_TEAM = "History Finance Operations"

FIRST_NAMES = [
    "Amara",
    "Ben",
    "Chiara",
    "Dev",
    "Elin",
    "Farah",
    "Gus",
    "Hana",
    "Idris",
    "Jonah",
    "Kira",
    "Liam",
    "Mei",
    "Nia",
    "Omar",
    "Pia",
    "Quinn",
    "Rosa",
    "Sami",
    "Tess",
    "Umar",
    "Vera",
    "Wren",
    "Xavi",
    "Yara",
    "Zane",
    "Aled",
    "Bea",
    "Cian",
    "Dana",
]
LAST_NAMES = [
    "Osei",
    "Patel",
    "Novak",
    "Byrne",
    "Haddad",
    "Kowal",
    "Lind",
    "Mensah",
    "Rossi",
    "Silva",
    "Tanaka",
    "Varga",
    "Walsh",
    "Young",
    "Ahmed",
    "Brandt",
    "Costa",
    "Duarte",
    "Evans",
    "Fischer",
    "Garcia",
    "Hughes",
    "Ito",
    "Jensen",
]
COMPANY_WORDS = [
    "Harbour",
    "Summit",
    "Copper",
    "Meadow",
    "Northway",
    "Beacon",
    "Foundry",
    "Orchard",
    "Linden",
    "Quarry",
    "Kestrel",
    "Granite",
    "Willow",
    "Falcon",
    "Anchor",
    "Thistle",
]
COMPANY_KINDS = ("Ltd", "LLP", "SARL", "GmbH", "& Co", "Partners", "Dental", "Cafe")

PRODUCTS = ("broadband", "mobile", "tv")
# Most customers pay in pounds, a good share in euros, a few in dollars.
CURRENCY_WEIGHTS = (("GBP", 65), ("EUR", 27), ("USD", 8))
AGENTS_PER_TEAM = 8
JUNIORS_PER_TEAM = 2
TEAMS_PER_MANAGER = 3


@dataclass(frozen=True, slots=True)
class Agent:
    id: int
    role: str
    team_id: int
    lead_id: int
    manager_id: int
    bad_actor: bool


@dataclass(frozen=True, slots=True)
class Customer:
    id: int
    currency: str
    status: str
    # product -> (cap in minor units, credit types allowed or None for all)
    contracts: dict[str, tuple[int, tuple[str, ...] | None]]
    business: bool


@dataclass
class Org:
    teams: list[tuple] = field(default_factory=list)
    users: list[tuple] = field(default_factory=list)
    accounts: list[tuple] = field(default_factory=list)
    contracts: list[tuple] = field(default_factory=list)
    agents: list[Agent] = field(default_factory=list)
    finance_ids: list[int] = field(default_factory=list)
    customers: list[Customer] = field(default_factory=list)


def team_count(scale: int) -> int:
    """Three teams for a small history, one more per ~40,000 credits, up to 24."""
    return max(3, min(24, scale // 40_000 + 3))


def build_org(
    rng: random.Random, *, scale: int, bases: dict[str, int], stamps: Stamps
) -> Org:
    """Teams with a lead, agents and juniors; managers over the leads and a
    head over them; finance; and customer accounts with their contracts."""
    org = Org()
    joined = stamps.text(stamps.start - 60 * 86_400)
    _people(org, rng, team_count(scale), bases, joined)
    _customers(org, rng, max(60, scale // 20), bases, stamps)
    return org


def _people(
    org: Org, rng: random.Random, teams: int, bases: dict[str, int], joined: str
) -> None:
    team_ids = iter(range(bases["teams"], bases["teams"] + teams + 2))
    user_ids = iter(range(bases["users"], bases["users"] + 10_000))

    def team(name: str) -> int:
        team_id = next(team_ids)
        org.teams.append((team_id, name, None, joined))
        return team_id

    def person(role: str, team_id: int | None, manager_id: int | None) -> int:
        user_id = next(user_ids)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        username = f"{first}.{last}.{user_id}".lower()
        org.users.append(
            (
                user_id,
                username,
                f"{first} {last}",
                f"{username}@history.example.com",
                role,
                team_id,
                manager_id,
                None,
                None,
                0,
                None,
                True,
                joined,
                None,
            )
        )
        return user_id

    operations = team(OPERATIONS_TEAM)
    head = person("manager", operations, None)
    managers = [
        person("manager", operations, head)
        for _ in range((teams + TEAMS_PER_MANAGER - 1) // TEAMS_PER_MANAGER)
    ]
    for index in range(teams):
        site = TEAM_SITES[index % len(TEAM_SITES)]
        round_ = index // len(TEAM_SITES)
        team_id = team(f"Billing {site}" + (f" {round_ + 1}" if round_ else ""))
        manager_id = managers[index // TEAMS_PER_MANAGER]
        lead = person("team_lead", team_id, manager_id)
        roles = ["agent"] * AGENTS_PER_TEAM + ["junior_agent"] * JUNIORS_PER_TEAM
        for role in roles:
            agent_id = person(role, team_id, lead)
            org.agents.append(Agent(agent_id, role, team_id, lead, manager_id, False))

    # About one agent in forty games the auto-approval limit; at least one.
    for index in rng.sample(range(len(org.agents)), max(1, len(org.agents) // 40)):
        agent = org.agents[index]
        org.agents[index] = Agent(
            agent.id, agent.role, agent.team_id, agent.lead_id, agent.manager_id, True
        )

    finance = team(FINANCE_TEAM)
    org.finance_ids = [person("finance", finance, None) for _ in range(3)]
    person("auditor", None, None)


def _customers(
    org: Org, rng: random.Random, count: int, bases: dict[str, int], stamps: Stamps
) -> None:
    currencies = [c for c, _ in CURRENCY_WEIGHTS]
    weights = [w for _, w in CURRENCY_WEIGHTS]
    contract_id = bases["contracts"]
    for account_id in range(bases["accounts"], bases["accounts"] + count):
        business = rng.random() < 0.2
        currency = rng.choices(currencies, weights)[0]
        roll = rng.random()
        status = "active" if roll < 0.96 else "suspended" if roll < 0.99 else "closed"
        since = stamps.start - rng.randint(90, 2_000) * 86_400
        org.accounts.append(
            (
                account_id,
                f"HA-{account_id:08d}",
                _company(rng) if business else _person(rng),
                currency,
                status,
                "ledger",
                None,
                stamps.text(since),
            )
        )

        contracts: dict[str, tuple[int, tuple[str, ...] | None]] = {}
        products = rng.sample(PRODUCTS, rng.choice((1, 1, 2, 3)))
        # One customer in fifty has no contract at all: every credit is refused.
        if rng.random() < 0.01:
            products = []
        for product in products:
            cap = (1_000_00 if business else 300_00) * (2 if rng.random() < 0.1 else 1)
            # A few contracts cover only disputes and SLA credits.
            types = ("dispute", "sla") if rng.random() < 0.05 else None
            contracts[product] = (cap, types)
            org.contracts.append(
                (
                    contract_id,
                    account_id,
                    product,
                    stamps.date_text(since),
                    None,
                    "active",
                    None if types is None else f'["{types[0]}", "{types[1]}"]',
                    cap,
                    stamps.text(since),
                )
            )
            contract_id += 1
        org.customers.append(
            Customer(account_id, currency, status, contracts, business)
        )


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _company(rng: random.Random) -> str:
    return f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_KINDS)}"
