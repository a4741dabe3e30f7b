"""Every policy rule, by its id and exact message, on the shipped default."""

import json
from dataclasses import replace
from typing import Any

import pytest
import yaml

from creditdesk.policy.engine import (
    ContractFacts,
    CreditFacts,
    Decision,
    Outcome,
    evaluate,
)
from creditdesk.policy.schemas import Policy, default_policy_text, parse_policy

DEFAULT = parse_policy(default_policy_text())
VERSION = 4
BROADBAND = ContractFacts(
    id=7, product="broadband", credit_types=None, cap_minor=50_000
)


def facts(**changes: Any) -> CreditFacts:
    """A credit the default policy approves, with ``changes`` applied."""
    base = CreditFacts(
        amount_minor=1_000,
        currency="GBP",
        credit_type="goodwill",
        reason="goodwill",
        requester_role="agent",
        account_status="active",
        case_status="open",
        case_product="broadband",
        disputed_amount_minor=None,
        contract=BROADBAND,
        recent_total_minor=0,
        near_duplicate=False,
    )
    return replace(base, **changes)


WITHIN = "amount.within_auto_limit"
OVER_LIMIT = "amount.over_auto_limit"
M, M2, F = "manager", "manager_2", "queue:finance"


def within(amount: str, limit: str, role: str) -> tuple[str, str]:
    message = f"Amount {amount} is within the auto-approval limit of {limit} for {role}"
    return (WITHIN, message)


def over(amount: str, limit: str, role: str) -> tuple[str, str]:
    message = f"Amount {amount} is above the auto-approval limit of {limit} for {role}"
    return (OVER_LIMIT, message)


def cap(total: str, cap: str) -> tuple[str, str]:
    message = (
        f"Credits in the last 30 days would total {total}, "
        f"above the contract cap of {cap}"
    )
    return ("cap.exceeded", message)


def duplicate(amount: str) -> tuple[str, str]:
    message = (
        f"A credit of {amount} for the same reason was raised on this account "
        "in the last 7 days"
    )
    return ("duplicate.suspected", message)


# (changes, outcome, [(rule id, message)], steps, flags)
CASES: dict[str, tuple[dict[str, Any], Outcome, list[tuple[str, str]], list, list]] = {
    "small credit is approved and says why": (
        {},
        Outcome.APPROVED,
        [within("GBP 10.00", "GBP 20.00", "agent")],
        [],
        [],
    ),
    "exactly the limit is approved": (
        {"amount_minor": 2_000},
        Outcome.APPROVED,
        [within("GBP 20.00", "GBP 20.00", "agent")],
        [],
        [],
    ),
    "a penny over the limit needs the manager": (
        {"amount_minor": 2_001},
        Outcome.APPROVAL_REQUIRED,
        [over("GBP 20.01", "GBP 20.00", "agent")],
        [M],
        [],
    ),
    "EUR has its own limit": (
        {"amount_minor": 2_500, "currency": "EUR"},
        Outcome.APPROVED,
        [within("EUR 25.00", "EUR 25.00", "agent")],
        [],
        [],
    ),
    "a role with no override uses the default": (
        {"amount_minor": 2_600, "currency": "USD", "requester_role": "manager"},
        Outcome.APPROVAL_REQUIRED,
        [over("USD 26.00", "USD 25.00", "manager")],
        [M],
        [],
    ),
    "top of the first band": (
        {"amount_minor": 25_000, "contract": replace(BROADBAND, cap_minor=10**9)},
        Outcome.APPROVAL_REQUIRED,
        [over("GBP 250.00", "GBP 20.00", "agent")],
        [M],
        [],
    ),
    "second band adds finance": (
        {"amount_minor": 25_001, "contract": replace(BROADBAND, cap_minor=10**9)},
        Outcome.APPROVAL_REQUIRED,
        [over("GBP 250.01", "GBP 20.00", "agent")],
        [M, F],
        [],
    ),
    "third band adds the manager's manager": (
        {"amount_minor": 100_001, "contract": replace(BROADBAND, cap_minor=10**9)},
        Outcome.APPROVAL_REQUIRED,
        [over("GBP 1000.01", "GBP 20.00", "agent")],
        [M, M2, F],
        [],
    ),
    "the maximum itself can still be approved": (
        {"amount_minor": 500_000, "contract": replace(BROADBAND, cap_minor=10**9)},
        Outcome.APPROVAL_REQUIRED,
        [over("GBP 5000.00", "GBP 20.00", "agent")],
        [M, M2, F],
        [],
    ),
    "above the maximum is refused and still explains the limit": (
        {"amount_minor": 500_001, "contract": replace(BROADBAND, cap_minor=10**9)},
        Outcome.REFUSED,
        [
            (
                "amount.over_maximum",
                "Amount GBP 5000.01 is above the policy maximum GBP 5000.00",
            ),
            over("GBP 5000.01", "GBP 20.00", "agent"),
        ],
        [],
        [],
    ),
    "currency the policy does not know": (
        {"currency": "JPY"},
        Outcome.REFUSED,
        [
            (
                "currency.unsupported",
                "Credits in JPY are not supported; the policy allows EUR, GBP, USD",
            )
        ],
        [],
        [],
    ),
    "reason the policy does not know": (
        {"reason": "whim"},
        Outcome.REFUSED,
        [("reason.unknown", "Reason 'whim' is not one the policy knows")],
        [],
        [],
    ),
    "credit type the policy does not know": (
        {"credit_type": "bribe"},
        Outcome.REFUSED,
        [("type.unknown", "Credit type 'bribe' is not one the policy knows")],
        [],
        [],
    ),
    "suspended account": (
        {"account_status": "suspended"},
        Outcome.REFUSED,
        [("account.inactive", "Account is suspended; credits need an active account")],
        [],
        [],
    ),
    "resolved case": (
        {"case_status": "resolved"},
        Outcome.REFUSED,
        [("case.not_open", "Case is resolved; credits need an open case")],
        [],
        [],
    ),
    "a pending case is still open for credits": (
        {"case_status": "pending"},
        Outcome.APPROVED,
        [within("GBP 10.00", "GBP 20.00", "agent")],
        [],
        [],
    ),
    "no contract for the case's product": (
        {"contract": None},
        Outcome.REFUSED,
        [("contract.missing", "No active contract for broadband")],
        [],
        [],
    ),
    "a case with no product has no contract": (
        {"contract": None, "case_product": None},
        Outcome.REFUSED,
        [("contract.missing", "No active contract: the case names no product")],
        [],
        [],
    ),
    "contract that excludes the credit type": (
        {"contract": replace(BROADBAND, credit_types=["sla", "dispute"])},
        Outcome.REFUSED,
        [
            (
                "contract.type_not_allowed",
                "The broadband contract does not allow goodwill credits",
            )
        ],
        [],
        [],
    ),
    "contract that lists the credit type": (
        {"contract": replace(BROADBAND, credit_types=["goodwill"])},
        Outcome.APPROVED,
        [within("GBP 10.00", "GBP 20.00", "agent")],
        [],
        [],
    ),
    "more than the disputed amount": (
        {"disputed_amount_minor": 999},
        Outcome.REFUSED,
        [
            (
                "amount.exceeds_disputed",
                "Amount GBP 10.00 exceeds the disputed amount GBP 9.99",
            )
        ],
        [],
        [],
    ),
    "exactly the disputed amount": (
        {"disputed_amount_minor": 1_000},
        Outcome.APPROVED,
        [within("GBP 10.00", "GBP 20.00", "agent")],
        [],
        [],
    ),
    "a zero amount": (
        {"amount_minor": 0},
        Outcome.REFUSED,
        [("amount.not_positive", "Amount GBP 0.00 must be above zero")],
        [],
        [],
    ),
    "over the contract cap within the auto limit": (
        {"recent_total_minor": 49_001},
        Outcome.APPROVAL_REQUIRED,
        [cap("GBP 500.01", "GBP 500.00")],
        [M],
        ["over_cap"],
    ),
    "reaching the cap exactly is fine": (
        {"recent_total_minor": 49_000},
        Outcome.APPROVED,
        [within("GBP 10.00", "GBP 20.00", "agent")],
        [],
        [],
    ),
    "a near duplicate needs approval": (
        {"near_duplicate": True},
        Outcome.APPROVAL_REQUIRED,
        [duplicate("GBP 10.00")],
        [M],
        ["near_duplicate"],
    ),
    "every approval rule at once takes the amount's band": (
        {
            "amount_minor": 30_000,
            "recent_total_minor": 30_000,
            "near_duplicate": True,
        },
        Outcome.APPROVAL_REQUIRED,
        [
            over("GBP 300.00", "GBP 20.00", "agent"),
            cap("GBP 600.00", "GBP 500.00"),
            duplicate("GBP 300.00"),
        ],
        [M, F],
        ["over_cap", "near_duplicate"],
    ),
    "every refusal is listed, and flags survive a refusal": (
        {
            "account_status": "closed",
            "case_status": "closed",
            "reason": "whim",
            "near_duplicate": True,
        },
        Outcome.REFUSED,
        [
            ("reason.unknown", "Reason 'whim' is not one the policy knows"),
            ("account.inactive", "Account is closed; credits need an active account"),
            ("case.not_open", "Case is closed; credits need an open case"),
            duplicate("GBP 10.00"),
        ],
        [],
        ["near_duplicate"],
    ),
}


@pytest.mark.parametrize(
    ("changes", "outcome", "rules", "steps", "flags"), CASES.values(), ids=CASES
)
def test_rule(
    changes: dict[str, Any],
    outcome: Outcome,
    rules: list[tuple[str, str]],
    steps: list[str],
    flags: list[str],
) -> None:
    decision = evaluate(DEFAULT, VERSION, facts(**changes))

    assert decision.outcome is outcome
    assert [(r.id, r.message) for r in decision.rules] == rules
    assert decision.steps == steps
    assert decision.flags == flags
    assert decision.policy_version == VERSION


def _policy_with(**per_role: dict[str, str]) -> Policy:
    document = yaml.safe_load(default_policy_text())
    document["auto_approval_limit"]["per_role"] = per_role
    return Policy.model_validate(document)


def test_a_role_override_raises_that_roles_limit_only() -> None:
    policy = _policy_with(team_lead={"GBP": "50.00"})

    lead = evaluate(policy, 2, facts(amount_minor=4_000, requester_role="team_lead"))
    agent = evaluate(policy, 2, facts(amount_minor=4_000, requester_role="agent"))
    lead_eur = evaluate(
        policy, 2, facts(amount_minor=4_000, currency="EUR", requester_role="team_lead")
    )

    assert lead.outcome is Outcome.APPROVED
    assert lead.rules[0].message == (
        "Amount GBP 40.00 is within the auto-approval limit of GBP 50.00 for team_lead"
    )
    assert agent.outcome is Outcome.APPROVAL_REQUIRED
    # The override names GBP only, so EUR falls back to the default 25.00.
    assert lead_eur.rule_ids == [OVER_LIMIT]


def test_flagged_credit_within_a_high_limit_takes_its_amounts_band() -> None:
    policy = _policy_with(team_lead={"GBP": "300.00"})

    decision = evaluate(
        policy,
        2,
        facts(amount_minor=26_000, requester_role="team_lead", near_duplicate=True),
    )

    assert decision.rule_ids == ["duplicate.suspected"]
    assert decision.steps == [M, F]


def test_decision_round_trips_through_json() -> None:
    decision = evaluate(
        DEFAULT, VERSION, facts(amount_minor=30_000, near_duplicate=True)
    )

    stored = json.loads(json.dumps(decision.to_dict()))

    assert stored == {
        "outcome": "approval_required",
        "rules": [
            {
                "id": OVER_LIMIT,
                "message": "Amount GBP 300.00 is above the auto-approval limit "
                "of GBP 20.00 for agent",
            },
            {
                "id": "duplicate.suspected",
                "message": "A credit of GBP 300.00 for the same reason was raised "
                "on this account in the last 7 days",
            },
        ],
        "policy_version": VERSION,
        "steps": [M, F],
        "flags": ["near_duplicate"],
    }
    assert Decision.from_dict(stored) == decision
