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
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from creditdesk.demo.history_flow import Flow, Ids, Outcome, Rows, Step
from creditdesk.demo.history_org import Agent, Customer, Org
from creditdesk.demo.history_time import DAY, HOUR_BANDS, Stamps, day_weights
from creditdesk.policy.chains import ApproverKind, step_config
from creditdesk.policy.engine import ContractFacts, CreditFacts, evaluate
from creditdesk.policy.schemas import Policy

# Credits per case: one to five, two and a half on average.
CREDITS_PER_CASE = ((1, 30), (2, 25), (3, 20), (4, 15), (5, 10))
CASE_TYPES = (("billing_dispute", 80), ("service_issue", 15), ("other", 5))
SMALL_AMOUNTS = (199, 250, 299, 450, 500, 599, 750, 899, 1000, 1200, 1250, 1499)
SMALL_AMOUNTS += (1500, 1799, 1999, 2000)
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


@dataclass(slots=True)
class Recent:
    """A credit that counts against its account's cap and duplicates."""

    created: int
    amount: int
    reason: str
    currency: str
    dies: int  # when it stopped counting (refused, rejected, voided...)


class Planner:
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
        self.chains = [self._chain(band.steps) for band in policy.approval_matrix.bands]
        self.recent: dict[int, list[Recent]] = {}
        self.judge = lru_cache(maxsize=200_000)(self._judge)
        # False judges every credit from its full facts (slow; for tests).
        self.exact_cache_keys = True
        self._types = sorted(policy.credit_types)
        self._reasons = sorted(policy.reason_codes)
        self.credits = self.cases = 0
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
        self.reconciliation(out)
        yield out

    _owed = 0
    _cumulative = 0
    _tick = 0

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
            disputed = self._amount(customer.currency)
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
            amount = self._credit_amount(case, currency, len(case.raised))
            credit_type, reason = case.credit_type, case.reason

        outcome, decision, flags, band = self._decide(
            case, at, amount, credit_type, reason
        )
        result, awaited = self._after(
            case, credit_id, at, amount, outcome, band, gaming=gaming, flags=flags
        )
        case.raised.append((at, result, awaited))
        dies = result.updated if result.status in DEAD else 2**62
        self.recent.setdefault(customer.id, []).append(
            Recent(at, amount, reason, currency, dies)
        )
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
        return self.flow.posting(
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

    def _judge(
        self,
        amount: int,
        currency: str,
        credit_type: str,
        reason: str,
        role: str,
        account_status: str,
        case_status: str,
        product: str | None,
        contract: tuple | None,
        disputed: int | None,
        total: int,
        duplicate: bool,
    ) -> tuple[str, str, tuple, int]:
        terms = (
            None
            if contract is None
            else ContractFacts(
                0, contract[0], list(contract[1]) if contract[1] else None, contract[2]
            )
        )
        facts = CreditFacts(
            amount,
            currency,
            credit_type,
            reason,
            role,
            account_status,
            case_status,
            product,
            disputed,
            terms,
            total,
            duplicate,
        )
        decision = evaluate(self.policy, self.version, facts)
        band = self.policy.band_for(amount, currency)
        index = self.policy.approval_matrix.bands.index(band) if band else 0
        return (
            decision.outcome.value,
            json.dumps(decision.to_dict()),
            tuple(decision.flags),
            index,
        )

    def _decide(
        self, case: CaseState, at: int, amount: int, credit_type: str, reason: str
    ) -> tuple[str, str, tuple, int]:
        """The engine's decision, through a cache keyed on only what changes it.

        A case here is always open or pending (a credit is never raised on a
        resolved one), and the product, type, reason, cap, disputed amount and
        rolling total appear in a decision only when a rule about them fires;
        otherwise they are replaced by one representative value, so most
        credits find their decision already made.
        """
        customer = case.customer
        currency = customer.currency
        total, duplicate = self._recent(customer.id, at, amount, reason, currency)
        if not self.exact_cache_keys:
            return self._judge_as_is(
                case, at, amount, credit_type, reason, total, duplicate
            )
        product = case.product
        terms = customer.contracts.get(product) if product else None
        contract = None
        if terms is not None:
            cap, types = terms
            over = total + amount > cap
            allowed = types is None or credit_type in types
            contract = (
                "" if allowed else product,
                None if allowed else types,
                cap if over else 2**62,
            )
            total = total if over else 0
            product = None
            if allowed and credit_type in self._types and reason in self._reasons:
                credit_type, reason = self._types[0], self._reasons[0]
        else:
            total = 0
        disputed = case.disputed
        if disputed is not None and amount <= disputed:
            disputed = None
        return self.judge(
            amount,
            currency,
            credit_type,
            reason,
            case.agent.role,
            customer.status,
            "open",
            product,
            contract,
            disputed,
            total,
            duplicate,
        )

    def _judge_as_is(
        self,
        case: CaseState,
        at: int,
        amount: int,
        credit_type: str,
        reason: str,
        total: int,
        duplicate: bool,
    ) -> tuple[str, str, tuple, int]:
        # The facts exactly as the service would gather them; the tests
        # compare a history made this way with the cached one.
        customer = case.customer
        terms = customer.contracts.get(case.product) if case.product else None
        contract = None if terms is None else (case.product, terms[1], terms[0])
        waiting = any(
            o.status == "pending_approval" or (o.pending_until or 0) > at
            for _, o, awaited in case.raised
            if awaited
        )
        return self._judge(
            amount,
            customer.currency,
            credit_type,
            reason,
            case.agent.role,
            customer.status,
            "pending" if waiting else "open",
            case.product,
            contract,
            case.disputed,
            total,
            duplicate,
        )

    def _recent(
        self, account_id: int, at: int, amount: int, reason: str, currency: str
    ) -> tuple[int, bool]:
        eligibility = self.policy.eligibility
        cap_start = at - eligibility.rolling_cap_days * DAY
        duplicate_start = at - eligibility.near_duplicate_days * DAY
        kept = [r for r in self.recent.get(account_id, ()) if r.created >= cap_start]
        self.recent[account_id] = kept
        total, duplicate = 0, False
        for r in kept:
            if r.dies <= at or r.currency != currency:
                continue
            total += r.amount
            if (
                r.created >= duplicate_start
                and r.amount == amount
                and r.reason == reason
            ):
                duplicate = True
        return total, duplicate

    # Cases

    def _resolved_before(self, case: CaseState, at: int) -> bool:
        resolved = resolution(case.raised)
        return resolved is not None and resolved < at

    def _close_case(self, case: CaseState, out: Rows) -> None:
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
    ) -> tuple:
        text = self.stamps.text
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
            None if result.posted is None else text(result.posted),
            None if result.applied is None else text(result.applied),
            result.version,
        )

    def _memo_text(self, credit_id: int, case: CaseState) -> str:
        return (
            f"Credit BC-{credit_id:06d} ({case.credit_type}, {case.reason})"
            f" against invoice {case.invoice_ref}"
        )

    # Amounts

    def _amount(self, currency: str) -> int:
        rng = self.rng
        roll = rng.random()
        if roll < 0.35:
            return rng.choice(SMALL_AMOUNTS)
        if roll < 0.70:
            return rng.randint(4, 40) * 50 - rng.choice((0, 1, 1, 51))
        if roll < 0.92:
            return rng.randint(42, 500) * 50
        if roll < 0.985:
            return rng.randint(251, 1_000) * 100
        if roll < 0.997:
            return rng.randint(101, 500) * 1_000
        return rng.randint(501, 900) * 1_000

    def _credit_amount(self, case: CaseState, currency: str, earlier: int) -> int:
        disputed, rng = case.disputed, self.rng
        if disputed is None or earlier:
            # Later credits on a case are for other lines of the bill.
            amount = self._amount(currency)
            if disputed and amount >= disputed:
                amount = max(100, disputed * rng.randint(1, 9) // 10 // 10 * 10 - 1)
            return amount
        roll = rng.random()
        if roll < 0.03:
            return disputed + rng.choice((100, 500, 1_000))
        if roll < 0.6 or disputed < 400:
            return disputed
        return max(100, disputed * rng.choice((1, 2, 3)) // 4 // 50 * 50)

    # Reconciliation

    def reconciliation(self, out: Rows) -> None:
        """A monthly ledger run for every finished month, with a few findings."""
        rng, text, flow = self.rng, self.stamps.text, self.flow
        finance = {row[0]: row[1] for row in self.org.users if row[4] == "finance"}
        current = text(self.stamps.now)[:7]
        for month in sorted(flow.memos_by_month):
            if month >= current:
                continue
            start = date.fromisoformat(f"{month}-01")
            end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
            started = (
                int(datetime(end.year, end.month, end.day, 6, tzinfo=UTC).timestamp())
                + DAY
                + rng.randint(0, 3 * 3_600)
            )
            run_id = self.ids.take("reconciliation_runs")
            memos = flow.memos_by_month[month]
            counts = {"untracked": 0, "missing": 0, "mismatched": 0}
            for sample in flow.sample_by_month.get(month, [])[: rng.randint(0, 3)]:
                kind = rng.choice(tuple(counts))
                counts[kind] += 1
                out.add(
                    "reconciliation_findings", _finding(self.ids, run_id, kind, sample)
                )
            user_id = rng.choice(list(finance))
            matched = memos - counts["mismatched"] - counts["missing"]
            out.add(
                "reconciliation_runs",
                (
                    run_id,
                    "ledger",
                    start.isoformat(),
                    end.isoformat(),
                    "completed",
                    memos,
                    max(matched, 0),
                    counts["untracked"],
                    counts["missing"],
                    counts["mismatched"],
                    None,
                    user_id,
                    finance[user_id],
                    text(started),
                    text(started + rng.randint(60, 900)),
                ),
            )


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


def _finding(ids: Ids, run_id: int, kind: str, sample: tuple) -> tuple:
    credit_id, reference, key, amount, currency = sample
    finding_id = ids.take("reconciliation_findings")
    if kind == "untracked":
        return (
            finding_id,
            run_id,
            kind,
            None,
            f"LM-9{credit_id:07d}",
            None,
            None,
            None,
            amount,
            currency,
            "the ledger has a memo that no approved credit here accounts for",
        )
    if kind == "missing":
        return (
            finding_id,
            run_id,
            kind,
            credit_id,
            None,
            key,
            amount,
            currency,
            None,
            None,
            "approved here, but the ledger had no memo for its key",
        )
    return (
        finding_id,
        run_id,
        kind,
        credit_id,
        reference,
        key,
        amount,
        currency,
        amount - 100,
        currency,
        "the ledger's memo is for a different amount than the credit",
    )


def _weighted(rng: random.Random, pairs: tuple) -> object:
    values = [value for value, _ in pairs]
    weights = [weight for _, weight in pairs]
    return rng.choices(values, weights)[0]


def _hour(rng: random.Random) -> int:
    first, last, _ = _weighted(rng, tuple((band, band[2]) for band in HOUR_BANDS))
    return rng.randint(first * 3_600, last * 3_600 - 1)
