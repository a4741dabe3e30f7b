"""How much is credited, and how the policy engine judges it.

Every credit is judged by ``policy.engine.evaluate`` from the facts the
service would gather: the account's live credits in the rolling cap window
and the near-duplicate window are kept here as the history goes. Decisions
are cached on only the facts that change them (see ``Judge.decide``).
"""

import json
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from creditdesk.demo.history_draws import between, pick
from creditdesk.demo.history_time import DAY
from creditdesk.policy.engine import ContractFacts, CreditFacts, evaluate
from creditdesk.policy.schemas import Policy

if TYPE_CHECKING:
    from creditdesk.demo.history_plan import CaseState

SMALL_AMOUNTS = (199, 250, 299, 450, 500, 599, 750, 899, 1000, 1200, 1250, 1499)
SMALL_AMOUNTS += (1500, 1799, 1999, 2000)


@dataclass(slots=True)
class Recent:
    """A credit that counts against its account's cap and duplicates."""

    created: int
    amount: int
    reason: str
    currency: str
    dies: int  # when it stopped counting (refused, rejected, voided...)


class Judge:
    """The engine's decisions for the history, and what they depend on."""

    def __init__(self, policy: Policy, version: int) -> None:
        self.policy, self.version = policy, version
        self.recent: dict[int, list[Recent]] = {}
        self.judge = lru_cache(maxsize=200_000)(self._judge)
        # False judges every credit from its full facts (slow; for tests).
        self.exact_cache_keys = True
        self._types = sorted(policy.credit_types)
        self._reasons = sorted(policy.reason_codes)
        eligibility = policy.eligibility
        self._cap_window = eligibility.rolling_cap_days * DAY
        self._duplicate_window = eligibility.near_duplicate_days * DAY

    def remember(self, account_id: int, credit: Recent) -> None:
        self.recent.setdefault(account_id, []).append(credit)

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

    def decide(
        self, case: "CaseState", at: int, amount: int, credit_type: str, reason: str
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
        case: "CaseState",
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
        kept = self.recent.get(account_id)
        if not kept:
            return 0, False
        cap_start = at - self._cap_window
        duplicate_start = at - self._duplicate_window
        # Credits are remembered oldest first (but for the last day's
        # make-up), so the list is trimmed only when its head has expired.
        if kept[0].created < cap_start:
            kept = self.recent[account_id] = [r for r in kept if r.created >= cap_start]
        total, duplicate = 0, False
        for r in kept:
            if r.created < cap_start or r.dies <= at or r.currency != currency:
                continue
            total += r.amount
            if (
                r.created >= duplicate_start
                and r.amount == amount
                and r.reason == reason
            ):
                duplicate = True
        return total, duplicate


class Amounts:
    """Amounts in minor units: mostly small, a tail for every approval band."""

    def __init__(self, rng: random.Random) -> None:
        self.random = rng.random

    def amount(self) -> int:
        random = self.random
        roll = random()
        if roll < 0.35:
            return pick(random, SMALL_AMOUNTS)
        if roll < 0.70:
            return between(random, 4, 40) * 50 - pick(random, (0, 1, 1, 51))
        if roll < 0.92:
            return between(random, 42, 500) * 50
        if roll < 0.985:
            return between(random, 251, 1_000) * 100
        if roll < 0.997:
            return between(random, 101, 500) * 1_000
        return between(random, 501, 900) * 1_000

    def for_case(self, disputed: int | None, earlier: int) -> int:
        """A credit's amount on a case with ``earlier`` credits before it."""
        random = self.random
        if disputed is None or earlier:
            # Later credits on a case are for other lines of the bill.
            amount = self.amount()
            if disputed and amount >= disputed:
                share = between(random, 1, 9)
                amount = max(100, disputed * share // 10 // 10 * 10 - 1)
            return amount
        roll = random()
        if roll < 0.03:
            return disputed + pick(random, (100, 500, 1_000))
        if roll < 0.6 or disputed < 400:
            return disputed
        return max(100, disputed * pick(random, (1, 2, 3)) // 4 // 50 * 50)
