"""A contact centre's credit history, generated in time order: pure, no database.

Cases open day by day with the seasons; their agents raise credits minutes
apart, and every credit is judged by the real policy engine
(``policy.engine.evaluate``) in the order it was raised, against what its
account has had in the rolling windows, so caps, near-duplicates and refusals
come out as the service would have decided them. A credit raised after its
case was resolved is never raised: an agent does not credit a finished case.

Rows leave in chunks; a case and everything about it leave together once its
last credit is judged, so every chunk can be committed on its own.
"""

import heapq
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from itertools import accumulate

from creditdesk.demo.history_flow import Flow
from creditdesk.demo.history_judge import Amounts, Judge, Recent
from creditdesk.demo.history_org import Agent, Customer, Org
from creditdesk.demo.history_posting import Posting
from creditdesk.demo.history_recon import Reconciliation
from creditdesk.demo.history_rows import Ids, Outcome, Rows, Step
from creditdesk.demo.history_time import DAY, HOUR_BANDS, Stamps, day_weights
from creditdesk.policy.chains import ApproverKind, step_config
from creditdesk.policy.schemas import Policy

# Credits per case: one to five, two and a half on average.
CREDITS_PER_CASE = ((1, 30), (2, 25), (3, 20), (4, 15), (5, 10))
CASE_TYPES = (("billing_dispute", 80), ("service_issue", 15), ("other", 5))
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
DEAD = frozenset({"refused", "rejected", "recalled", "voided"})


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
    raised: list[tuple[int, Outcome, bool]] = field(default_factory=list)
    rows: Rows = field(default_factory=Rows)


class Planner:
    """Generates the history after ``org`` in chunks; see ``chunks``."""

    def __init__(
        self,
        rng: random.Random,
        org: Org,
        *,
        policy: Policy,
        version: int,
        stamps: Stamps,
        ids: Ids,
        scale: int,
    ) -> None:
        self.rng, self.org, self.policy, self.version = rng, org, policy, version
        self.stamps, self.ids, self.scale = stamps, ids, scale
        self.flow = Flow(rng, ids, stamps, org.finance_ids)
        self.posting = Posting(self.flow)
        self.rules = Judge(policy, version)
        self.amounts = Amounts(rng)
        self.chains = [self._chain(band.steps) for band in policy.approval_matrix.bands]
        self.credits = self.cases = 0
        # Credits planned by open cases and not raised yet, the day weights
        # summed so far, and a tie-breaker for credits due at the same second.
        self._owed = self._cumulative = self._tick = 0
        self._heap: list[tuple[int, int, CaseState]] = []
        self._friends = {
            a.id: rng.sample(org.customers, min(4, len(org.customers)))
            for a in org.agents
            if a.bad_actor
        }

    def _chain(self, specs: list) -> list[Step]:
        steps = []
        for spec in specs:
            config = step_config(spec, self.policy.approvals)
            approver = spec.approver
            queue = str(approver.role) if approver.kind is ApproverKind.QUEUE else None
            steps.append(
                Step(
                    spec.label,
                    spec.effective_mode.value,
                    json.dumps(config),
                    config["deadline_minutes"],
                    config["remind_before_minutes"],
                    approver.level if approver.kind is ApproverKind.MANAGER else 0,
                    queue,
                )
            )
        return steps

    # Driving the days

    def chunks(self, size: int) -> Iterator[Rows]:
        """The history in chunks of about ``size`` credits, oldest first."""
        weights = day_weights(self.stamps)
        total = sum(w for _, w in weights)
        out = Rows()
        for midnight, weight in weights:
            self._cumulative += weight
            target = self.scale * self._cumulative // total
            while self.credits + self._owed < target:
                self._push(self._open_case(midnight))
            self._drain(midnight + DAY, out)
            if out.count("billing_credits") >= size:
                yield out
                out = Rows()
        # Credits a resolved case never needed are made up on the last day.
        while self.credits < self.scale:
            self._push(self._open_case(self.stamps.now - DAY))
            self._drain(self.stamps.now, out)
        Reconciliation(self.rng, self.ids, self.stamps, self.org, self.posting).runs(
            out
        )
        yield out

    def _push(self, case: CaseState, at: int | None = None) -> None:
        self._tick += 1
        when = self._first_credit_at(case) if at is None else at
        heapq.heappush(self._heap, (when, self._tick, case))

    def _drain(self, until: int, out: Rows) -> None:
        heap = self._heap
        while heap and heap[0][0] < until:
            at, _, case = heapq.heappop(heap)
            following = self._raise(case, at)
            if following is None:
                self._owed -= case.planned - len(case.raised)
                self._close_case(case, out)
            else:
                self._push(case, following)

    def _open_case(self, midnight: int) -> CaseState:
        rng = self.rng
        agent = rng.choice(self.org.agents)
        friends = self._friends.get(agent.id)
        gaming = friends is not None and rng.random() < 0.5
        customer = rng.choice(friends) if gaming else rng.choice(self.org.customers)
        kind = "other" if gaming else _weighted(rng, CASE_TYPES)
        products = list(customer.contracts) or ["broadband"]
        product = (
            rng.choice(products)
            if rng.random() < 0.99
            else rng.choice(("broadband", "mobile", "tv"))
        )
        case_id = self.ids.take("cases")
        invoice_ref = f"INV-{customer.id}-{rng.randint(1, 9999):04d}"
        disputed = None
        if kind == "billing_dispute" and rng.random() < 0.9:
            disputed = self.amounts.amount(customer.currency)
        credit_type, reasons = REASONS[kind]
        planned = 3 if gaming else _weighted(rng, CREDITS_PER_CASE)
        # Nothing happens after now: a case opened today is opened hours ago,
        # so that its credits (within two hours of it) are in the past too.
        opened = min(
            midnight + _hour(rng),
            self.stamps.now - 3 * 3_600 - rng.randint(0, 3 * 3_600),
        )
        self._owed += planned
        self.cases += 1
        return CaseState(
            case_id,
            customer,
            agent,
            kind,
            product,
            invoice_ref,
            disputed,
            opened,
            planned,
            credit_type,
            rng.choice(reasons),
            rng.choice(SUBJECTS[kind]).format(ref=invoice_ref),
        )

    def _first_credit_at(self, case: CaseState) -> int:
        return case.opened + self.rng.randint(3 * 60, 90 * 60)

    # One credit

    def _raise(self, case: CaseState, at: int) -> int | None:
        """Raise the case's next credit at ``at``; when its next one is due."""
        if self.credits >= self.scale or self._resolved_before(case, at):
            return None
        self.credits += 1
        self._owed -= 1
        credit_id = self.ids.take("billing_credits")
        customer, agent, rng = case.customer, case.agent, self.rng
        currency = customer.currency
        gaming = agent.bad_actor and case.type == "other"
        limit = self.policy.auto_limit(agent.role, currency)
        if gaming:
            amount = limit - rng.choice((1, 1, 50, 100))
            credit_type, reason = "goodwill", "goodwill"
        else:
            amount = self.amounts.for_case(case, currency, len(case.raised))
            credit_type, reason = case.credit_type, case.reason

        outcome, decision, flags, band = self.rules.decide(
            case, at, amount, credit_type, reason
        )
        result, awaited = self._after(
            case, credit_id, at, amount, outcome, band, gaming=gaming, flags=flags
        )
        case.raised.append((at, result, awaited))
        dies = result.updated if result.status in DEAD else 2**62
        self.rules.remember(customer.id, Recent(at, amount, reason, currency, dies))
        case.rows.add(
            "billing_credits",
            self._credit_row(
                case,
                credit_id,
                at,
                amount,
                credit_type,
                reason,
                decision,
                flags,
                result,
                awaited,
            ),
        )

        if len(case.raised) >= case.planned:
            return None
        return at + rng.randint(20, 180)

    def _after(
        self,
        case: CaseState,
        credit_id: int,
        at: int,
        amount: int,
        outcome: str,
        band: int,
        *,
        gaming: bool,
        flags: tuple,
    ) -> tuple[Outcome, bool]:
        rows = case.rows
        posting = (
            credit_id,
            amount,
            case.customer.currency,
            case.customer.id,
            self._memo_text(credit_id, case),
        )
        if outcome == "refused":
            return Outcome("refused", 1, at, decided=at, settled=at), False
        if outcome == "approved":
            result = Outcome("approved", 1, at, decided=at)
            return self._post(rows, posting, result), False
        chain = self.chains[band]
        approvers = [self._holders(case.agent, step) for step in chain]
        reject = 0.4 if gaming else 0.2 if "over_cap" in flags else 0.08
        result = self.flow.approval(
            rows,
            (credit_id, at, case.agent.id),
            chain,
            approvers,
            reject_odds=reject,
            recall_odds=0.03,
        )
        if result.status == "approved":
            result = self._post(rows, posting, result)
        return result, True

    def _post(self, rows: Rows, posting: tuple, result: Outcome) -> Outcome:
        rng = self.rng
        return self.posting.posting(
            rows,
            posting,
            result,
            posting_fails=rng.random() < 0.004,
            voids=rng.random() < 0.012,
        )

    def _holders(self, agent: Agent, step: Step) -> list[int]:
        if step.queue_role == "finance":
            return self.org.finance_ids
        if step.level == 1:
            return [agent.lead_id]
        if step.level >= 2:
            return [agent.manager_id]
        return []

    def _resolved_before(self, case: CaseState, at: int) -> bool:
        resolved = resolution(case.raised)
        return resolved is not None and resolved < at

    def _close_case(self, case: CaseState, out: Rows) -> None:
        if not case.raised:
            # Its first credit came after the last one asked for: never opened.
            self.cases -= 1
            return
        text = self.stamps.text
        resolved = resolution(case.raised)
        if resolved is not None:
            status = "resolved"
        elif any(o.status == "pending_approval" for _, o, _ in case.raised):
            status = "pending"
        else:
            status = "open"
        customer = case.customer
        out.add(
            "cases",
            (
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
                case.agent.id,
                case.agent.team_id,
                text(case.opened),
                None if resolved is None else text(resolved),
            ),
        )
        out.extend(case.rows)

    def _credit_row(
        self,
        case: CaseState,
        credit_id: int,
        at: int,
        amount: int,
        credit_type: str,
        reason: str,
        decision: str,
        flags: tuple,
        result: Outcome,
        awaited: bool,
    ) -> tuple:
        text = self.stamps.text
        posted = None if result.posted is None else text(result.posted)
        return (
            credit_id,
            case.id,
            case.customer.id,
            case.agent.id,
            case.agent.team_id,
            amount,
            case.customer.currency,
            credit_type,
            reason,
            JUSTIFICATIONS[credit_type].format(ref=case.invoice_ref),
            case.product,
            case.invoice_ref,
            result.status,
            self.version,
            decision,
            "near_duplicate" in flags,
            "over_cap" in flags,
            result.external_ref,
            result.last_error,
            text(at),
            text(result.updated),
            None if result.decided is None else text(result.decided),
            posted,
            None if result.applied is None else text(result.applied),
            result.version,
            None if posted is None else posted[:7],
            # A chain opened for it as it was raised.
            text(at) if awaited else None,
        )

    def _memo_text(self, credit_id: int, case: CaseState) -> str:
        return (
            f"Credit BC-{credit_id:06d} ({case.credit_type}, {case.reason})"
            f" against invoice {case.invoice_ref}"
        )

    # Amounts


def resolution(raised: list[tuple[int, Outcome, bool]]) -> int | None:
    """When the case was resolved: the first time a credit applied while every
    credit raised before then had settled (what ``resolve_if_settled`` does)."""
    for moment in sorted(o.applied for _, o, _ in raised if o.applied is not None):
        if all(
            o.settled is not None and o.settled <= moment
            for created, o, _ in raised
            if created < moment
        ):
            return moment
    return None


def _weighted(rng: random.Random, pairs: tuple) -> object:
    # The same draw as choices(values, weights), without summing the weights
    # again on every one of the history's hundreds of thousands of calls.
    values, cumulative = _cumulative(pairs)
    return rng.choices(values, cum_weights=cumulative)[0]


@cache
def _cumulative(pairs: tuple) -> tuple[list, list[int]]:
    return [value for value, _ in pairs], list(accumulate(w for _, w in pairs))


_BANDS_BY_WEIGHT = tuple((band, band[2]) for band in HOUR_BANDS)


def _hour(rng: random.Random) -> int:
    first, last, _ = _weighted(rng, _BANDS_BY_WEIGHT)
    return rng.randint(first * 3_600, last * 3_600 - 1)
