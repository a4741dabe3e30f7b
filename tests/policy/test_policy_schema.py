"""The policy document: the shipped default, and bad documents named by path."""

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from creditdesk.errors import ValidationFailed
from creditdesk.policy.schemas import default_policy_text, parse_policy
from creditdesk.users.models import Role

Document = dict[str, Any]


def test_the_shipped_default_parses_to_minor_units() -> None:
    policy = parse_policy(default_policy_text())

    assert set(policy.reason_codes) == {
        "overcharge",
        "billing_error",
        "service_outage",
        "late_delivery",
        "retention",
        "goodwill",
        "other",
    }
    assert policy.reason_codes["billing_error"].label == "Billing error"
    assert set(policy.credit_types) == {"goodwill", "dispute", "sla", "other"}
    assert policy.auto_approval_limit.default == {
        "GBP": 2_000,
        "EUR": 2_500,
        "USD": 2_500,
    }
    assert policy.auto_limit(Role.AGENT, "GBP") == 2_000
    assert policy.auto_limit("finance", "EUR") == 2_500
    assert [[s.label for s in b.steps] for b in policy.approval_matrix.bands] == [
        ["manager"],
        ["manager", "queue:finance"],
        ["manager", "manager_2", "queue:finance"],
    ]
    assert [b.up_to["EUR"] for b in policy.approval_matrix.bands] == [
        25_000,
        100_000,
        500_000,
    ]
    assert policy.approval_matrix.refuse_above == {
        "GBP": 500_000,
        "EUR": 500_000,
        "USD": 500_000,
    }
    assert policy.eligibility.rolling_cap_days == 30
    assert policy.eligibility.near_duplicate_days == 7


def test_band_for_picks_the_first_band_covering_the_amount() -> None:
    policy = parse_policy(default_policy_text())

    assert policy.band_for(1, "GBP") is policy.approval_matrix.bands[0]
    assert policy.band_for(25_001, "USD") is policy.approval_matrix.bands[1]
    assert policy.band_for(500_001, "GBP") is None


def _edited(edit: Callable[[Document], None]) -> str:
    document = yaml.safe_load(default_policy_text())
    edit(document)
    return yaml.safe_dump(document, sort_keys=False)


def _set(path: str, value: object) -> Callable[[Document], None]:
    def edit(document: Document) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return edit


def _delete(path: str) -> Callable[[Document], None]:
    def edit(document: Document) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        del node[last]

    return edit


LIMIT = "auto_approval_limit"
BANDS = "approval_matrix.bands"

# (edit, field at fault, message)
BAD: dict[str, tuple[Callable[[Document], None], str, str]] = {
    "unknown section": (_set("surprise", 1), "surprise", "unknown key"),
    "unknown nested key": (
        _set("eligibility.grace_days", 3),
        "eligibility.grace_days",
        "unknown key",
    ),
    "unknown key beside a label": (
        _set("reason_codes.other.colour", "red"),
        "reason_codes.other.colour",
        "unknown key",
    ),
    "missing section": (
        _delete("eligibility"),
        "eligibility",
        "required key is missing",
    ),
    "amount written as a YAML number": (
        _set(f"{LIMIT}.default.GBP", 20.0),
        f"{LIMIT}.default.GBP",
        'write amounts as quoted decimal strings such as "20.00", not 20.0',
    ),
    "amount that is not a decimal": (
        _set(f"{LIMIT}.default.EUR", "20,00"),
        f"{LIMIT}.default.EUR",
        "'20,00' is not a plain decimal amount such as \"10.00\"",
    ),
    "negative amount": (
        _set(f"{BANDS}.0.up_to.USD", "-5.00"),
        f"{BANDS}.0.up_to.USD",
        "'-5.00' is not a plain decimal amount such as \"10.00\"",
    ),
    "amount finer than the currency": (
        _set(f"{BANDS}.1.up_to.GBP", "1000.001"),
        f"{BANDS}.1.up_to.GBP",
        "GBP allows 2 decimal places; '1000.001' has 3",
    ),
    "not a currency": (
        _set(f"{LIMIT}.default.XYZ", "1.00"),
        f"{LIMIT}.default.XYZ",
        "XYZ is not an ISO 4217 currency",
    ),
    "bands not ascending": (
        _set(f"{BANDS}.2.up_to.EUR", "1000.00"),
        f"{BANDS}.2.up_to.EUR",
        "bands must ascend: EUR 1000.00 is not above EUR 1000.00",
    ),
    "first band at zero": (
        _set(f"{BANDS}.0.up_to.GBP", "0.00"),
        f"{BANDS}.0.up_to.GBP",
        "GBP 0.00 must be above zero",
    ),
    "refusal above the last band": (
        _set("approval_matrix.refuse_above.USD", "6000.00"),
        "approval_matrix.refuse_above.USD",
        "USD 6000.00 is above the last band (USD 5000.00), so amounts in "
        "between would have no approval steps",
    ),
    "band missing a currency": (
        _delete(f"{BANDS}.1.up_to.EUR"),
        f"{BANDS}.1.up_to",
        "missing EUR: every currency with an auto-approval limit needs an amount here",
    ),
    "band with a currency that has no limit": (
        _set(f"{BANDS}.0.up_to.CHF", "250.00"),
        f"{BANDS}.0.up_to.CHF",
        "CHF has no auto-approval limit; add it there first",
    ),
    "role override in a currency with no default": (
        _set(f"{LIMIT}.per_role.agent.CHF", "20.00"),
        f"{LIMIT}.per_role.agent.CHF",
        "CHF has no default limit; add it to default first",
    ),
    "unknown role": (
        _set(f"{LIMIT}.per_role.chief", {"GBP": "20.00"}),
        f"{LIMIT}.per_role.chief",
        "key not allowed: Input should be 'junior_agent', 'agent', 'team_lead', "
        "'manager', 'finance', 'auditor' or 'admin'",
    ),
    "unknown step kind": (
        _set(f"{BANDS}.0.steps", ["manager", "ceo"]),
        f"{BANDS}.0.steps.1.approver",
        "unknown approver 'ceo': use manager, manager_2 .. manager_6, queue:ROLE, "
        "finance, user:NAME or a list of usernames",
    ),
    "a step twice": (
        _set(f"{BANDS}.1.steps", ["manager", "manager"]),
        f"{BANDS}.1.steps",
        "an approver appears in more than one step",
    ),
    "a band with no steps": (
        _set(f"{BANDS}.0.steps", []),
        f"{BANDS}.0.steps",
        "List should have at least 1 item after validation, not 0",
    ),
    "no bands": (
        _set(BANDS, []),
        BANDS,
        "List should have at least 1 item after validation, not 0",
    ),
    "days written as text": (
        _set("eligibility.rolling_cap_days", "30"),
        "eligibility.rolling_cap_days",
        "Input should be a valid integer",
    ),
    "a zero-day cap window": (
        _set("eligibility.rolling_cap_days", 0),
        "eligibility.rolling_cap_days",
        "Input should be greater than or equal to 1",
    ),
    "a code with capitals and a space": (
        _set("credit_types.Big Gesture", {"label": "Big"}),
        "credit_types.Big Gesture",
        "key not allowed: use lower-case letters, digits and underscores, "
        "starting with a letter (at most 32)",
    ),
    "a code without a label": (
        _set("credit_types.sla", {}),
        "credit_types.sla.label",
        "required key is missing",
    ),
}


@pytest.mark.parametrize(("edit", "field", "message"), BAD.values(), ids=BAD)
def test_a_bad_document_is_refused_at_its_path(
    edit: Callable[[Document], None], field: str, message: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_policy(_edited(edit))

    issue = caught.value.issues[0]
    assert (issue.field, issue.message) == (field, message)
    assert caught.value.detail == f"The policy is not valid: {field}: {message}"
    assert caught.value.status == 422


def test_every_error_is_reported_not_just_the_first() -> None:
    def edit(document: Document) -> None:
        document["surprise"] = 1
        document["eligibility"]["near_duplicate_days"] = -1

    with pytest.raises(ValidationFailed) as caught:
        parse_policy(_edited(edit))

    assert {issue.field for issue in caught.value.issues} == {
        "surprise",
        "eligibility.near_duplicate_days",
    }
    assert caught.value.detail.endswith("(and 1 more)")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("reason_codes: [", "not valid YAML at line 1, column 16: expected the node"),
        ("- just\n- a list\n", "the policy must be a YAML mapping of sections"),
        ("", "the policy must be a YAML mapping of sections"),
        (
            "eligibility: {}\neligibility: {}\n",
            "not valid YAML at line 2, column 1: duplicate key 'eligibility'",
        ),
    ],
)
def test_text_that_is_no_policy_document(text: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_policy(text)

    issue = caught.value.issues[0]
    assert issue.field == "document"
    assert issue.message.startswith(message)
