"""The cases of a generated history: pure, no database.

Who opens a case, for which customer, about what and how many credits it
will need; the case's row once its credits are raised; and when it was
resolved.
"""

import random as _random
from collections.abc import Callable
from dataclasses import dataclass, field

from creditdesk.demo.history_draws import between, pick, weighted
from creditdesk.demo.history_judge import Amounts
from creditdesk.demo.history_org import PRODUCTS, Agent, Customer, Org
from creditdesk.demo.history_rows import Outcome
from creditdesk.demo.history_time import HOUR, HOUR_BANDS, Stamps

# Credits per case: one to five, two and a half on average.
CREDITS_PER_CASE = weighted(((1, 30), (2, 25), (3, 20), (4, 15), (5, 10)))
CASE_TYPES = weighted((("billing_dispute", 80), ("service_issue", 15), ("other", 5)))
JUSTIFICATIONS = {
    "dispute": "Customer disputes invoice {ref}: the charge does not match the plan.",
    "sla": "Service was down beyond the SLA; compensation as per contract ({ref}).",
    "goodwill": "Goodwill gesture after a long call about invoice {ref}.",
    "other": "Adjustment agreed with the customer on invoice {ref}.",
}
SUBJECTS = {
    "billing_dispute": (
        "Overcharged on {ref}",
        "Charged twice on {ref}",
        "Late payment fee on {ref} disputed",
    ),
    "service_issue": (
        "Broadband outage",
        "Mobile data not working",
        "TV channels missing",
    ),
    "other": ("Complaint about a call", "Moving house"),
}
REASONS = {
    "billing_dispute": ("dispute", ("overcharge", "billing_error")),
    "service_issue": ("sla", ("service_outage", "late_delivery")),
    "other": ("goodwill", ("goodwill", "retention", "other")),
}
HOURS = weighted(tuple(((first, last), weight) for first, last, weight in HOUR_BANDS))


@dataclass(slots=True)
class CaseState:
    id: int
    customer: Customer
    agent: Agent
    type: str
    product: str | None
    invoice_ref: str
    disputed: int | None
    opened: int
    planned: int
    credit_type: str
    reason: str
    subject: str
    # Its credits are a bad actor's goodwill just under the limit.
    gaming: bool
    justification: str
    # What every ledger memo of the case says after the credit's number.
    memo_suffix: str
    raised: list[tuple[int, Outcome, bool]] = field(default_factory=list)
    # When the credits raised so far resolved it (see ``resolution``).
    resolved: int | None = None


class Opener:
    """Opens cases: an agent, a customer, what the case is about."""

    def __init__(
        self,
        rng: _random.Random,
        org: Org,
        amounts: Amounts,
        stamps: Stamps,
        next_id: Callable[[], int],
    ) -> None:
        self.random, self.amounts, self.now = rng.random, amounts, stamps.now
        self.agents, self.customers = org.agents, org.customers
        self._next_case = next_id
        # The few customers each bad actor games the limit for.
        self._friends = {
            a.id: rng.sample(org.customers, min(4, len(org.customers)))
            for a in org.agents
            if a.bad_actor
        }

    def open(self, midnight: int) -> CaseState:
        """A case opened in the working hours of the day from ``midnight``."""
        random = self.random
        agent = pick(random, self.agents)
        friends = self._friends.get(agent.id)
        gaming = friends is not None and random() < 0.5
        customer = pick(random, friends if gaming else self.customers)
        kind = "other" if gaming else pick(random, CASE_TYPES)
        products = tuple(customer.contracts) or ("broadband",)
        product = pick(random, products if random() < 0.99 else PRODUCTS)
        invoice_ref = f"INV-{customer.id}-{between(random, 1, 9999):04d}"
        disputed = None
        if kind == "billing_dispute" and random() < 0.9:
            disputed = self.amounts.amount()
        credit_type, reasons = REASONS[kind]
        reason = pick(random, reasons)
        planned = 3 if gaming else pick(random, CREDITS_PER_CASE)
        # Nothing happens after now: a case opened today is opened hours ago,
        # so that its credits (within two hours of it) are in the past too.
        first, last = pick(random, HOURS)
        opened = min(
            midnight + between(random, first * HOUR, last * HOUR - 1),
            self.now - 3 * HOUR - between(random, 0, 3 * HOUR),
        )
        return CaseState(
            self._next_case(),
            customer,
            agent,
            kind,
            product,
            invoice_ref,
            disputed,
            opened,
            planned,
            credit_type,
            reason,
            pick(random, SUBJECTS[kind]).format(ref=invoice_ref),
            agent.bad_actor and kind == "other",
            JUSTIFICATIONS[credit_type].format(ref=invoice_ref),
            f" ({credit_type}, {reason}) against invoice {invoice_ref}",
        )


def case_row(case: CaseState, text: Callable[[int], str]) -> tuple:
    """The case's row, once its last credit is raised."""
    resolved = case.resolved
    if resolved is not None:
        status = "resolved"
    elif any(o.status == "pending_approval" for _, o, _ in case.raised):
        status = "pending"
    else:
        status = "open"
    customer, agent = case.customer, case.agent
    return (
        case.id,
        customer.id,
        case.subject,
        None,
        case.type,
        case.product,
        case.invoice_ref,
        case.disputed,
        customer.currency,
        status,
        agent.id,
        agent.team_id,
        text(case.opened),
        None if resolved is None else text(resolved),
    )


def resolution(raised: list[tuple[int, Outcome, bool]]) -> int | None:
    """When the case was resolved: the first time a credit applied while every
    credit raised before then had settled (what ``resolve_if_settled`` does)."""
    first = None
    for _, candidate, _ in raised:
        moment = candidate.applied
        if moment is None or (first is not None and moment >= first):
            continue
        for created, other, _ in raised:
            settled = other.settled
            if created < moment and (settled is None or settled > moment):
                break
        else:
            first = moment
    return first
