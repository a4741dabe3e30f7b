"""No sequence of commands leaves a credit in an undefined state.

Hypothesis drives random interleavings of raise, approve, reject, recall and
worker runs through the API, and after every step checks that each credit's
status, approval chain, ledger memo and audit trail agree.
"""

import itertools
import json
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from creditdesk.approvals.models import ApprovalStep, StepStatus
from creditdesk.audit.models import AuditEntry
from creditdesk.billing.models import LedgerMemo
from creditdesk.credits.lifecycle import ALLOWED
from creditdesk.credits.models import BillingCredit, CreditStatus
from tests.api_helpers import credit_body, drain_outbox

AMOUNTS = st.sampled_from(["5.00", "19.99", "20.00", "20.01", "35.00", "400.00"])
DECIDERS = st.sampled_from(["lead", "manager", "finance", "finance_2", "agent"])
POSTED = {CreditStatus.POSTED, CreditStatus.APPLIED}


class CreditCommands(RuleBasedStateMachine):
    # Wired by the test below: pytest fixtures cannot reach a state machine.
    client: Any = None
    org: Any = None
    customer: Any = None
    factory: Any = None
    app_settings: Any = None

    credits = Bundle("credits")

    def __init__(self) -> None:
        super().__init__()
        self.mine: list[int] = []

    @rule(target=credits, amount=AMOUNTS)
    def raise_credit(self, amount: str) -> int:
        response = self.client.post(
            "/api/v1/credits",
            json=credit_body(self.customer.case.id, amount),
            headers=self.org.auth("agent"),
        )
        assert response.status_code == 201, response.text
        credit_id = response.json()["id"]
        self.mine.append(credit_id)
        return credit_id

    @rule(credit_id=credits, who=DECIDERS, approve=st.booleans())
    def decide(self, credit_id: int, who: str, approve: bool) -> None:
        verb = "approve" if approve else "reject"
        response = self.client.post(
            f"/api/v1/credits/{credit_id}/{verb}",
            json={"comment": "Checked against the customer's invoice"},
            headers=self.org.auth(who),
        )
        assert response.status_code in {200, 403, 409}, response.text

    @rule(credit_id=credits)
    def recall(self, credit_id: int) -> None:
        response = self.client.post(
            f"/api/v1/credits/{credit_id}/recall", headers=self.org.auth("agent")
        )
        assert response.status_code in {200, 409}, response.text

    @precondition(lambda self: bool(self.mine))
    @rule()
    def run_worker(self) -> None:
        drain_outbox(self.factory, self.app_settings)

    @invariant()
    def every_credit_is_consistent(self) -> None:
        if not self.mine:
            return
        with self.factory() as session:
            for credit in session.scalars(
                sa.select(BillingCredit).where(BillingCredit.id.in_(self.mine))
            ):
                _check_credit(session, credit)


def _check_credit(session: Any, credit: BillingCredit) -> None:
    assert credit.status in CreditStatus
    steps = list(
        session.scalars(
            sa.select(ApprovalStep).where(ApprovalStep.credit_id == credit.id)
        )
    )
    pending = [s for s in steps if s.status == StepStatus.PENDING]
    memos = session.scalar(
        sa.select(sa.func.count())
        .select_from(LedgerMemo)
        .where(LedgerMemo.credit_id == credit.id)
    )

    assert len(pending) == (1 if credit.status == CreditStatus.PENDING_APPROVAL else 0)
    if credit.status == CreditStatus.REJECTED:
        assert any(s.status == StepStatus.REJECTED for s in steps)
    if steps and credit.status in POSTED | {CreditStatus.APPROVED}:
        assert all(s.status == StepStatus.APPROVED for s in steps)
    assert memos == (1 if credit.status in POSTED else 0)
    assert (credit.external_ref is not None) == (credit.status in POSTED)
    _check_trail(session, credit)


def _check_trail(session: Any, credit: BillingCredit) -> None:
    """The audited statuses form a path the state machine allows."""
    changes = session.scalars(
        sa.select(AuditEntry.changes)
        .where(AuditEntry.entity_type == "credit")
        .where(AuditEntry.entity_id == str(credit.id))
        .order_by(AuditEntry.seq)
    )
    path = [
        CreditStatus(json.loads(c)["status"][1])
        for c in changes
        if "status" in json.loads(c)
    ]
    assert path[0] == CreditStatus.SUBMITTED
    for before, after in itertools.pairwise(path):
        assert after in ALLOWED[before], f"{before} -> {after}"
    assert path[-1] == credit.status


def test_no_sequence_of_commands_leaves_a_credit_undefined(
    client: Any, org: Any, session_factory: Any, settings: Any
) -> None:
    from tests.factories import make_customer

    CreditCommands.client = client
    CreditCommands.org = org
    CreditCommands.customer = make_customer(
        session_factory, owner=org.agent, cap_minor=10_000_000
    )
    CreditCommands.factory = session_factory
    CreditCommands.app_settings = settings
    run = CreditCommands.TestCase
    run.settings = _hypothesis_settings
    run().runTest()


_hypothesis_settings = hypothesis_settings(
    max_examples=25,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
