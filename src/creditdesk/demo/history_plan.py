"""A contact centre's credit history, generated in time order: pure, no database.

Cases open day by day with the seasons; their agents raise credits minutes
apart, and every credit is judged by the real policy engine
(``policy.engine.evaluate``) in the order it was raised, against what its
account has had in the rolling windows, so caps, near-duplicates and refusals
come out as the service would have decided them. A credit raised after its
case was resolved is never raised: an agent does not credit a finished case.

Rows leave in chunks, and a chunk leaves only while no case is open, so that
it holds every row of its cases and can be committed on its own.
"""

import heapq
import json
import random as _random
from collections.abc import Iterator

from creditdesk.demo.history_cases import CaseState, Opener, case_row, resolution
from creditdesk.demo.history_draws import between, pick
from creditdesk.demo.history_flow import Flow
from creditdesk.demo.history_judge import Amounts, Judge, Recent
from creditdesk.demo.history_org import Agent, Org
from creditdesk.demo.history_posting import Posting
from creditdesk.demo.history_recon import Reconciliation
from creditdesk.demo.history_rows import Ids, Outcome, Rows, Step
from creditdesk.demo.history_time import DAY, Stamps, day_weights
from creditdesk.policy.chains import ApproverKind, step_config
from creditdesk.policy.schemas import Policy

DEAD = frozenset({"refused", "rejected", "recalled", "voided"})
# A gaming agent stays just under the auto-approval limit.
UNDERCUTS = (1, 1, 50, 100)
NEVER = 2**62


class Planner:
    """Generates the history after ``org`` in chunks; see ``chunks``."""

    def __init__(
        self,
        rng: _random.Random,
        org: Org,
        *,
        policy: Policy,
        version: int,
        stamps: Stamps,
        ids: Ids,
        scale: int,
    ) -> None:
        self.rng, self.org, self.policy, self.version = rng, org, policy, version
        self.random = rng.random
        self.stamps, self.ids, self.scale = stamps, ids, scale
        self.out = Rows()
        self.flow = Flow(rng, ids, stamps, org.finance_ids)
        self.posting = Posting(self.flow)
        self.rules = Judge(policy, version)
        self.amounts = Amounts(rng)
        self.chains = [self._chain(band.steps) for band in policy.approval_matrix.bands]
        self.credits = self.cases = 0
        # Credits planned by open cases and not raised yet, the day weights
        # summed so far, a tie-breaker for credits due at the same second,
        # and the credits raised before the chunk being filled.
        self._owed = self._cumulative = self._tick = self._taken = 0
        self._heap: list[tuple[int, int, CaseState]] = []
        self.opener = Opener(rng, org, self.amounts, stamps, ids.taker("cases"))
        self._next_credit = ids.taker("billing_credits")
        # The same few answers asked for every credit, worked out once.
        self._limits: dict[tuple[str, str], int] = {}
        self._approvers: dict[tuple[int, int], list[list[int]]] = {}

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
        for midnight, weight in weights:
            self._cumulative += weight
            target = self.scale * self._cumulative // total
            while self.credits + self._owed < target:
                self._push(self._open_case(midnight))
            self._drain(midnight + DAY)
            # Cases open in working hours and are done before midnight, so
            # the heap is empty here nearly every night.
            if self.credits - self._taken >= size and not self._heap:
                yield self._take()
        # Credits a resolved case never needed are made up on the last day.
        while self.credits < self.scale:
            self._push(self._open_case(self.stamps.now - DAY))
            self._drain(self.stamps.now)
        # Every credit is raised, so what is left only closes its cases.
        self._drain(NEVER)
        Reconciliation(self.rng, self.ids, self.stamps, self.org, self.posting).runs(
            self.out
        )
        yield self._take()

    def _take(self) -> Rows:
        out, self.out = self.out, Rows()
        self._taken = self.credits
        return out

    def _push(self, case: CaseState) -> None:
        self._tick += 1
        first = case.opened + between(self.random, 3 * 60, 90 * 60)
        heapq.heappush(self._heap, (first, self._tick, case))

    def _drain(self, until: int) -> None:
        heap, push, pop = self._heap, heapq.heappush, heapq.heappop
        while heap and heap[0][0] < until:
            at, _, case = pop(heap)
            following = self._raise(case, at)
            if following is None:
                self._owed -= case.planned - len(case.raised)
                self._close_case(case)
            else:
                self._tick += 1
                push(heap, (following, self._tick, case))

    def _open_case(self, midnight: int) -> CaseState:
        case = self.opener.open(midnight)
        self._owed += case.planned
        self.cases += 1
        return case

    # One credit

    def _raise(self, case: CaseState, at: int) -> int | None:
        """Raise the case's next credit at ``at``; when its next one is due."""
        # A case resolved in the same second is resolved already.
        resolved = case.resolved
        if self.credits >= self.scale or (resolved is not None and resolved <= at):
            return None
        self.credits += 1
        self._owed -= 1
        credit_id = self._next_credit()
        currency, raised = case.customer.currency, case.raised
        if case.gaming:
            amount = self._limit(case.agent.role, currency)
            amount -= pick(self.random, UNDERCUTS)
            reason = "goodwill"
        else:
            amount = self.amounts.for_case(case.disputed, len(raised))
            reason = case.reason

        outcome, decision, flags, band = self.rules.decide(
            case, at, amount, case.credit_type, reason
        )
        result, awaited = self._after(case, credit_id, at, amount, outcome, band, flags)
        raised.append((at, result, awaited))
        case.resolved = resolution(raised)
        dies = result.updated if result.status in DEAD else NEVER
        self.rules.remember(
            case.customer.id, Recent(at, amount, reason, currency, dies)
        )
        self.out.billing_credits.extend(
            self._credit_row(
                case, credit_id, at, amount, reason, decision, flags, result, awaited
            )
        )

        if len(raised) >= case.planned:
            return None
        return at + between(self.random, 20, 180)

    def _limit(self, role: str, currency: str) -> int:
        key = (role, currency)
        limit = self._limits.get(key)
        if limit is None:
            limit = self._limits[key] = self.policy.auto_limit(role, currency)
        return limit

    def _after(
        self,
        case: CaseState,
        credit_id: int,
        at: int,
        amount: int,
        outcome: str,
        band: int,
        flags: tuple,
    ) -> tuple[Outcome, bool]:
        if outcome == "refused":
            return Outcome("refused", 1, at, decided=at, settled=at), False
        if outcome == "approved":
            result = Outcome("approved", 1, at, decided=at)
            return self._post(case, credit_id, amount, result), False
        reject = 0.4 if case.gaming else 0.2 if "over_cap" in flags else 0.08
        result = self.flow.approval(
            self.out,
            (credit_id, at, case.agent.id),
            self.chains[band],
            self._holders(case.agent, band),
            reject_odds=reject,
            recall_odds=0.03,
        )
        if result.status == "approved":
            result = self._post(case, credit_id, amount, result)
        return result, True

    def _post(
        self, case: CaseState, credit_id: int, amount: int, result: Outcome
    ) -> Outcome:
        random, customer = self.random, case.customer
        memo = f"Credit BC-{credit_id:06d}{case.memo_suffix}"
        return self.posting.posting(
            self.out,
            (credit_id, amount, customer.currency, customer.id, memo),
            result,
            posting_fails=random() < 0.004,
            voids=random() < 0.012,
        )

    def _holders(self, agent: Agent, band: int) -> list[list[int]]:
        """Who holds each step of the band's chain for the agent's credits."""
        key = (agent.id, band)
        holders = self._approvers.get(key)
        if holders is None:
            chain = self.chains[band]
            holders = self._approvers[key] = [
                self._step_holders(agent, step) for step in chain
            ]
        return holders

    def _step_holders(self, agent: Agent, step: Step) -> list[int]:
        if step.queue_role == "finance":
            return self.org.finance_ids
        if step.level == 1:
            return [agent.lead_id]
        if step.level >= 2:
            return [agent.manager_id]
        return []

    def _close_case(self, case: CaseState) -> None:
        if not case.raised:
            # Its first credit came after the last one asked for: never opened.
            self.cases -= 1
            return
        self.out.cases.extend(case_row(case, self.stamps.text))

    def _credit_row(
        self,
        case: CaseState,
        credit_id: int,
        at: int,
        amount: int,
        reason: str,
        decision: str,
        flags: tuple,
        result: Outcome,
        awaited: bool,
    ) -> tuple:
        # Most of a credit's times are the moment it was raised or the one it
        # was posted, so each is formatted once.
        text = self.stamps.text
        created = text(at)
        posted_at, decided_at = result.posted, result.decided
        posted = None if posted_at is None else text(posted_at)
        updated = (
            created
            if result.updated == at
            else posted
            if result.updated == posted_at
            else text(result.updated)
        )
        decided = (
            None
            if decided_at is None
            else created
            if decided_at == at
            else text(decided_at)
        )
        applied_at = result.applied
        applied = (
            None
            if applied_at is None
            else posted
            if applied_at == posted_at
            else text(applied_at)
        )
        customer, agent = case.customer, case.agent
        return (
            credit_id,
            case.id,
            customer.id,
            agent.id,
            agent.team_id,
            amount,
            customer.currency,
            case.credit_type,
            reason,
            case.justification,
            case.product,
            case.invoice_ref,
            result.status,
            self.version,
            decision,
            "near_duplicate" in flags,
            "over_cap" in flags,
            result.external_ref,
            result.last_error,
            created,
            updated,
            decided,
            posted,
            applied,
            result.version,
            None if posted is None else posted[:7],
            # A chain opened for it as it was raised.
            created if awaited else None,
        )
