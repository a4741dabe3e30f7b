"""Judging one credit against a policy: pure, no database.

Every rule has a stable dotted id and a human message. A decision lists every
rule that fired, not just the first, so a refusal or an approval request can
be explained in full. Any refusal wins; otherwise any approval rule asks for
the chain of the amount's band; otherwise the credit is approved.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from creditdesk.money import MoneyError, format_amount
from creditdesk.policy.schemas import Policy

# A case that is still being worked may carry credits; a finished one may not.
OPEN_CASE_STATUSES = frozenset({"open", "pending"})

FLAG_OVER_CAP = "over_cap"
FLAG_NEAR_DUPLICATE = "near_duplicate"


class Outcome(StrEnum):
    APPROVED = "approved"
    APPROVAL_REQUIRED = "approval_required"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class ContractFacts:
    id: int
    product: str
    credit_types: list[str] | None
    cap_minor: int


@dataclass(frozen=True, slots=True)
class CreditFacts:
    """Everything the policy looks at, gathered before judging."""

    amount_minor: int
    currency: str
    credit_type: str
    reason: str
    requester_role: str
    account_status: str
    case_status: str
    case_product: str | None
    disputed_amount_minor: int | None
    contract: ContractFacts | None
    # The account's live credits in the rolling window, excluding this one.
    recent_total_minor: int
    near_duplicate: bool


@dataclass(frozen=True, slots=True)
class RuleHit:
    id: str
    message: str


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    rules: list[RuleHit]
    policy_version: int
    steps: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    @property
    def rule_ids(self) -> list[str]:
        return [rule.id for rule in self.rules]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored on the credit and returned by the API."""
        return {
            "outcome": self.outcome.value,
            "rules": [{"id": r.id, "message": r.message} for r in self.rules],
            "policy_version": self.policy_version,
            "steps": list(self.steps),
            "flags": list(self.flags),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Decision":
        return cls(
            outcome=Outcome(data["outcome"]),
            rules=[RuleHit(r["id"], r["message"]) for r in data["rules"]],
            policy_version=data["policy_version"],
            steps=list(data.get("steps", [])),
            flags=list(data.get("flags", [])),
        )


def evaluate(policy: Policy, version: int, facts: CreditFacts) -> Decision:
    """Judge a credit: approved, approval_required (with steps) or refused."""
    refusals = _refusals(policy, facts)
    approvals = _approval_rules(policy, facts)
    flags = _flags(facts)

    if refusals:
        return Decision(Outcome.REFUSED, refusals + approvals, version, [], flags)

    if approvals:
        # The amount's band is at least the first band, so it is always the
        # longest chain any of the approval rules needs.
        band = policy.band_for(facts.amount_minor, facts.currency)
        steps = [step.label for step in band.steps] if band else []
        return Decision(Outcome.APPROVAL_REQUIRED, approvals, version, steps, flags)

    limit = policy.auto_limit(facts.requester_role, facts.currency)
    within = RuleHit(
        "amount.within_auto_limit",
        f"Amount {_money(facts.amount_minor, facts.currency)} is within the "
        f"auto-approval limit of {_money(limit, facts.currency)} for "
        f"{facts.requester_role}",
    )
    return Decision(Outcome.APPROVED, [within], version, [], flags)


# Each rule's message is worded only when the rule fires: a credit meets a
# dozen rules, and formatting the amounts in all their messages cost more
# than the rest of the judgement.


def _refusals(policy: Policy, facts: CreditFacts) -> list[RuleHit]:
    return [
        *_catalogue_refusals(policy, facts),
        *_state_refusals(facts),
        *_contract_refusals(facts),
        *_amount_refusals(policy, facts),
    ]


def _catalogue_refusals(policy: Policy, facts: CreditFacts) -> list[RuleHit]:
    hits = []
    if facts.currency not in policy.currencies:
        hits.append(
            RuleHit(
                "currency.unsupported",
                f"Credits in {facts.currency} are not supported; the policy allows "
                f"{', '.join(sorted(policy.currencies))}",
            )
        )
    if facts.reason not in policy.reason_codes:
        hits.append(
            RuleHit(
                "reason.unknown", f"Reason '{facts.reason}' is not one the policy knows"
            )
        )
    if facts.credit_type not in policy.credit_types:
        hits.append(
            RuleHit(
                "type.unknown",
                f"Credit type '{facts.credit_type}' is not one the policy knows",
            )
        )
    return hits


def _state_refusals(facts: CreditFacts) -> list[RuleHit]:
    hits = []
    if facts.account_status != "active":
        hits.append(
            RuleHit(
                "account.inactive",
                f"Account is {facts.account_status}; credits need an active account",
            )
        )
    if facts.case_status not in OPEN_CASE_STATUSES:
        hits.append(
            RuleHit(
                "case.not_open",
                f"Case is {facts.case_status}; credits need an open case",
            )
        )
    return hits


def _contract_refusals(facts: CreditFacts) -> list[RuleHit]:
    contract = facts.contract
    if contract is None:
        product = facts.case_product
        message = (
            f"No active contract for {product}"
            if product
            else "No active contract: the case names no product"
        )
        return [RuleHit("contract.missing", message)]

    allowed = contract.credit_types
    if allowed is None or facts.credit_type in allowed:
        return []
    return [
        RuleHit(
            "contract.type_not_allowed",
            f"The {contract.product} contract does not allow "
            f"{facts.credit_type} credits",
        )
    ]


def _amount_refusals(policy: Policy, facts: CreditFacts) -> list[RuleHit]:
    amount, currency = facts.amount_minor, facts.currency
    disputed = facts.disputed_amount_minor
    hits = []
    if amount <= 0:
        hits.append(
            RuleHit(
                "amount.not_positive",
                f"Amount {_money(amount, currency)} must be above zero",
            )
        )
    if disputed is not None and amount > disputed:
        hits.append(
            RuleHit(
                "amount.exceeds_disputed",
                f"Amount {_money(amount, currency)} exceeds the disputed amount "
                f"{_money(disputed, currency)}",
            )
        )
    if currency in policy.currencies:
        maximum = policy.refuse_above(currency)
        if amount > maximum:
            hits.append(
                RuleHit(
                    "amount.over_maximum",
                    f"Amount {_money(amount, currency)} is above the policy maximum "
                    f"{_money(maximum, currency)}",
                )
            )
    return hits


def _approval_rules(policy: Policy, facts: CreditFacts) -> list[RuleHit]:
    amount, currency = facts.amount_minor, facts.currency
    hits = []

    if currency in policy.currencies:
        limit = policy.auto_limit(facts.requester_role, currency)
        if amount > limit:
            hits.append(
                RuleHit(
                    "amount.over_auto_limit",
                    f"Amount {_money(amount, currency)} is above the auto-approval "
                    f"limit of {_money(limit, currency)} for {facts.requester_role}",
                )
            )

    if facts.contract is not None and _over_cap(facts):
        total = facts.recent_total_minor + amount
        days = policy.eligibility.rolling_cap_days
        cap = facts.contract.cap_minor
        hits.append(
            RuleHit(
                "cap.exceeded",
                f"Credits in the last {days} days would total "
                f"{_money(total, currency)}, above the contract cap of "
                f"{_money(cap, currency)}",
            )
        )

    if facts.near_duplicate:
        hits.append(
            RuleHit(
                "duplicate.suspected",
                f"A credit of {_money(amount, currency)} for the same reason was "
                f"raised on this account in the last "
                f"{policy.eligibility.near_duplicate_days} days",
            )
        )
    return hits


def _over_cap(facts: CreditFacts) -> bool:
    contract = facts.contract
    return (
        contract is not None
        and facts.recent_total_minor + facts.amount_minor > contract.cap_minor
    )


def _flags(facts: CreditFacts) -> list[str]:
    flags = []
    if _over_cap(facts):
        flags.append(FLAG_OVER_CAP)
    if facts.near_duplicate:
        flags.append(FLAG_NEAR_DUPLICATE)
    return flags


# The same rules worded without any amount, for a caller who may not see the
# credit's amount (limits and totals would give it away too). A rule missing
# here and from AMOUNT_FREE_RULES is withheld entirely: add new rules to one.
WITHOUT_AMOUNT = {
    "amount.within_auto_limit": "Amount is within the auto-approval limit",
    "amount.not_positive": "Amount must be above zero",
    "amount.exceeds_disputed": "Amount exceeds the disputed amount",
    "amount.over_maximum": "Amount is above the policy maximum",
    "amount.over_auto_limit": "Amount is above the auto-approval limit",
    "cap.exceeded": "Credits in the rolling window would exceed the contract cap",
    "duplicate.suspected": "A similar credit for the same reason was raised on "
    "this account recently",
}
AMOUNT_FREE_RULES = frozenset(
    {
        "currency.unsupported",
        "reason.unknown",
        "type.unknown",
        "account.inactive",
        "case.not_open",
        "contract.missing",
        "contract.type_not_allowed",
    }
)
WITHHELD_MESSAGE = "Details withheld: they concern the amount"


def message_without_amount(rule_id: str, message: str) -> str:
    """The rule's message as shown to someone who may not see the amount."""
    if rule_id in AMOUNT_FREE_RULES:
        return message
    return WITHOUT_AMOUNT.get(rule_id, WITHHELD_MESSAGE)


def _money(minor: int, currency: str) -> str:
    """``GBP 35.00``; raw minor units when the code is no usable currency."""
    try:
        return f"{currency} {format_amount(minor, currency)}"
    except MoneyError:
        return f"{currency} {minor} (minor units)"
