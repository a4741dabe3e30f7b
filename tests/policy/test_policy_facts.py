"""The facts gathered for judging: rolling window, near duplicates, contracts."""

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from creditdesk.accounts.models import Account, AccountStatus, ContractStatus
from creditdesk.cases.models import Case, CaseStatus
from creditdesk.credits.models import CreditStatus
from creditdesk.policy import facts
from creditdesk.policy.engine import CreditFacts
from creditdesk.policy.schemas import default_policy_text, parse_policy
from creditdesk.users.models import Role
from tests.policy.factories import (
    NOW,
    TODAY,
    make_account,
    make_case,
    make_contract,
    make_credit,
    make_customer,
    make_user,
)

DEFAULT = parse_policy(default_policy_text())


def _facts(session: Session, case: Case, **options: Any) -> CreditFacts:
    values: dict[str, Any] = {
        "requester_role": Role.AGENT,
        "amount_minor": 1_000,
        "currency": "GBP",
        "credit_type": "goodwill",
        "reason": "goodwill",
        "now": NOW,
        "policy": DEFAULT,
    }
    values.update(options)
    account = session.get(Account, case.account_id)
    assert account is not None
    return facts.gather(session, case=case, account=account, **values)


# -- the rolling window and near duplicates ---------------------------------


def test_rolling_total_counts_live_credits_from_the_window_start(
    session: Session,
) -> None:
    case = make_customer(session)
    start = NOW - timedelta(days=30)
    make_credit(session, case=case, created_at=start, amount_minor=100)
    make_credit(
        session, case=case, created_at=NOW - timedelta(hours=1), amount_minor=20
    )
    make_credit(session, case=case, created_at=start - timedelta(seconds=1))
    make_credit(session, case=case, created_at=NOW, amount_minor=3)

    facts = _facts(session, case, reason="overcharge")

    assert facts.recent_total_minor == 123
    assert facts.near_duplicate is False


@pytest.mark.parametrize(
    "status",
    [
        CreditStatus.REFUSED,
        CreditStatus.REJECTED,
        CreditStatus.RECALLED,
        CreditStatus.VOIDED,
    ],
)
def test_dead_credits_neither_count_nor_duplicate(
    session: Session, status: CreditStatus
) -> None:
    case = make_customer(session)
    make_credit(session, case=case, created_at=NOW - timedelta(days=1), status=status)
    make_credit(session, case=case, created_at=NOW - timedelta(days=2), amount_minor=7)

    facts = _facts(session, case)

    assert facts.recent_total_minor == 7
    assert facts.near_duplicate is False


def test_rolling_total_skips_other_currencies_accounts_and_the_credit_itself(
    session: Session,
) -> None:
    case = make_customer(session)
    other = make_customer(session)
    yesterday = NOW - timedelta(days=1)
    make_credit(session, case=case, created_at=yesterday, amount_minor=40)
    make_credit(session, case=case, created_at=yesterday, currency="EUR")
    make_credit(session, case=other, created_at=yesterday, amount_minor=500)
    itself = make_credit(session, case=case, created_at=NOW, amount_minor=1_000)

    facts = _facts(session, case, exclude_credit_id=itself.id)

    assert facts.recent_total_minor == 40
    assert facts.near_duplicate is False


@pytest.mark.parametrize(
    ("age", "amount", "reason", "expected"),
    [
        (timedelta(days=7), 1_000, "goodwill", True),
        (timedelta(days=7, seconds=1), 1_000, "goodwill", False),
        (timedelta(0), 1_000, "goodwill", True),
        (timedelta(days=1), 1_001, "goodwill", False),
        (timedelta(days=1), 1_000, "overcharge", False),
    ],
)
def test_near_duplicate_window(
    session: Session, age: timedelta, amount: int, reason: str, expected: bool
) -> None:
    case = make_customer(session)
    make_credit(
        session, case=case, created_at=NOW - age, amount_minor=amount, reason=reason
    )

    facts = _facts(session, case, amount_minor=1_000, reason="goodwill")

    assert facts.near_duplicate is expected
    assert facts.recent_total_minor == amount


def test_near_duplicate_on_another_case_of_the_same_account(session: Session) -> None:
    case = make_customer(session)
    account = session.get(Account, case.account_id)
    assert account is not None
    sibling = make_case(session, account=account, owner=make_user(session))
    make_credit(session, case=sibling, created_at=NOW - timedelta(days=3))

    assert _facts(session, case).near_duplicate is True


# -- the contract ------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "found"),
    [
        ({}, True),
        ({"starts_on": TODAY}, True),
        ({"starts_on": TODAY + timedelta(days=1)}, False),
        ({"ends_on": TODAY}, True),
        ({"ends_on": TODAY - timedelta(days=1)}, False),
        ({"status": ContractStatus.SUSPENDED}, False),
        ({"status": ContractStatus.CANCELLED}, False),
        ({"product": "mobile"}, False),
    ],
)
def test_contract_must_be_active_today_for_the_cases_product(
    session: Session, options: dict[str, Any], found: bool
) -> None:
    account = make_account(session)
    contract = make_contract(session, account=account, cap_minor=777, **options)
    case = make_case(session, account=account, owner=make_user(session))

    facts = _facts(session, case)

    if found:
        assert facts.contract is not None
        assert (facts.contract.id, facts.contract.cap_minor) == (contract.id, 777)
    else:
        assert facts.contract is None


def test_contract_of_another_account_does_not_count(session: Session) -> None:
    stranger = make_account(session)
    make_contract(session, account=stranger)
    account = make_account(session)
    case = make_case(session, account=account, owner=make_user(session))

    assert _facts(session, case).contract is None


def test_the_latest_started_of_overlapping_contracts_governs(
    session: Session,
) -> None:
    account = make_account(session)
    make_contract(session, account=account, starts_on=TODAY - timedelta(days=300))
    newer = make_contract(
        session,
        account=account,
        starts_on=TODAY - timedelta(days=10),
        credit_types=["sla"],
    )
    case = make_case(session, account=account, owner=make_user(session))

    contract = _facts(session, case).contract

    assert contract is not None
    assert (contract.id, contract.credit_types) == (newer.id, ["sla"])


def test_a_case_without_product_has_no_contract(session: Session) -> None:
    case = make_customer(session, product=None)

    facts = _facts(session, case)

    assert (facts.contract, facts.case_product) == (None, None)


# -- the other facts -------------------------------------------------------------


def test_states_and_disputed_amount_are_copied_as_plain_values(
    session: Session,
) -> None:
    account = make_account(session, status=AccountStatus.SUSPENDED)
    owner = make_user(session)
    case = make_case(
        session,
        account=account,
        owner=owner,
        disputed_minor=4_200,
        status=CaseStatus.PENDING,
    )

    facts = _facts(session, case)

    assert facts.account_status == "suspended"
    assert facts.case_status == "pending"
    assert facts.requester_role == "agent"
    assert facts.disputed_amount_minor == 4_200


def test_a_disputed_amount_in_another_currency_is_not_compared(
    session: Session,
) -> None:
    case = make_customer(session, currency="EUR", disputed_minor=10)

    assert _facts(session, case, currency="GBP").disputed_amount_minor is None
