"""A small fixed history written row by row at fixed times, so each report's
figures can be worked out by hand. Records go straight in as the lifecycle
would have left them; only the times matter to the reports."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session, sessionmaker

from creditdesk.accounts.models import Account
from creditdesk.approvals.models import (
    ApprovalRequest,
    RequestStatus,
    WorkItem,
    WorkItemKind,
    WorkItemStatus,
)
from creditdesk.cases.models import Case, CaseStatus, CaseType
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.db import transaction
from creditdesk.invoices.models import Invoice
from creditdesk.reconciliation.models import (
    FindingKind,
    ReconciliationFinding,
    ReconciliationRun,
    RunStatus,
)
from creditdesk.users.models import Role, User
from tests.factories import Org, make_account, make_org, make_user, unique


def at(text: str) -> datetime:
    """``"2015-01-12 09:30"`` as an aware UTC time."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class History:
    """An organisation (``make_org``) with a second agent under the lead, one
    account and a case per agent, and a writer for credits and cases."""

    factory: sessionmaker[Session]
    org: Org
    agent_2: User
    cases: dict[int, int] = field(default_factory=dict)
    account_id: int = 0

    @classmethod
    def new(cls, factory: sessionmaker[Session]) -> "History":
        org = make_org(factory)
        with transaction(factory) as session:
            agent_2 = make_user(
                session, role=Role.AGENT, team=org.team, manager=org.lead
            )
            account = make_account(session)
        history = cls(factory, org, agent_2, account_id=account.id)
        for person in (org.agent, agent_2, org.junior):
            history.cases[person.id] = history.case(
                owner=person, opened="2010-01-01 00:00"
            )
        return history

    @property
    def team_id(self) -> int:
        return self.org.team.id

    def case(
        self,
        *,
        owner: User,
        opened: str,
        resolved: str | None = None,
        type: CaseType = CaseType.BILLING_DISPUTE,
        team_id: int | None = None,
    ) -> int:
        with transaction(self.factory) as session:
            case = Case(
                account_id=self.account_id,
                subject=unique("Case"),
                type=type,
                product="broadband",
                currency="GBP",
                status=CaseStatus.RESOLVED if resolved else CaseStatus.OPEN,
                owner_id=owner.id,
                team_id=team_id or owner.team_id,
                opened_at=at(opened),
                resolved_at=at(resolved) if resolved else None,
            )
            session.add(case)
            session.flush()
            return case.id

    def credit(
        self,
        *,
        by: User,
        amount: int,
        created: str,
        currency: str = "GBP",
        reason: str = "overcharge",
        product: str = "broadband",
        status: CreditStatus = CreditStatus.APPROVED,
        decided: str | None = None,
        posted: str | None = None,
        near_duplicate: bool = False,
        over_cap: bool = False,
        case_id: int | None = None,
    ) -> int:
        with transaction(self.factory) as session:
            credit = BillingCredit(
                case_id=case_id or self.cases[by.id],
                account_id=self.account_id,
                requested_by_id=by.id,
                team_id=by.team_id,
                amount_minor=amount,
                currency=currency,
                type="goodwill",
                reason=reason,
                justification="A fixed history for the reports.",
                product=product,
                status=status,
                policy_version=1,
                decision={},
                near_duplicate=near_duplicate,
                over_cap=over_cap,
                created_at=at(created),
                updated_at=at(created),
                decided_at=at(decided) if decided else None,
                posted_at=at(posted) if posted else None,
            )
            session.add(credit)
            session.flush()
            return credit.id

    def account(self, *, currency: str = "GBP", team_id: int | None = None) -> int:
        """A further account, of ``team_id`` (None: of no team)."""
        with transaction(self.factory) as session:
            account = make_account(session, currency=currency)
            account.team_id = team_id
            return account.id

    def invoice(
        self, *, account_id: int, amount: int, issued: str, currency: str = "GBP"
    ) -> None:
        """An invoice issued on the day ``issued`` (``2015-06-01``), with the
        account's team as the invoices service records it."""
        with transaction(self.factory) as session:
            account = session.get_one(Account, account_id)
            session.add(
                Invoice(
                    account_id=account_id,
                    team_id=account.team_id,
                    reference=unique("INV"),
                    issued_on=date.fromisoformat(issued),
                    amount_minor=amount,
                    currency=currency,
                    created_at=at(issued + " 00:00"),
                )
            )

    def request(self, credit_id: int, *, created: str) -> None:
        """An approval request, recorded on the credit as the approvals
        service records it: the time of the credit's first."""
        with transaction(self.factory) as session:
            session.add(
                ApprovalRequest(
                    credit_id=credit_id,
                    status=RequestStatus.PENDING,
                    created_at=at(created),
                )
            )
            credit = session.get_one(BillingCredit, credit_id)
            first = credit.approval_requested_at
            if first is None or at(created) < first:
                credit.approval_requested_at = at(created)

    def posting_failure(self, credit_id: int, *, assigned: str) -> None:
        with transaction(self.factory) as session:
            session.add(
                WorkItem(
                    kind=WorkItemKind.POSTING_FAILED,
                    credit_id=credit_id,
                    queue_role="finance",
                    origin="policy",
                    status=WorkItemStatus.DONE,
                    assigned_at=at(assigned),
                    created_at=at(assigned),
                )
            )


def reconciliation_run(
    factory: sessionmaker[Session],
    *,
    started: str,
    findings: list[dict],
    status: RunStatus = RunStatus.COMPLETED,
) -> None:
    """A run started at ``started`` with ``findings`` (column values)."""
    day = at(started).date()
    with transaction(factory) as session:
        run = ReconciliationRun(
            system="ledger",
            period_start=date(day.year, day.month, 1),
            period_end=day,
            status=status,
            actor_name="tests",
            started_at=at(started),
        )
        session.add(run)
        session.flush()
        for values in findings:
            session.add(
                ReconciliationFinding(
                    run_id=run.id,
                    detail="a fixed finding",
                    **({"kind": FindingKind.UNTRACKED} | values),
                )
            )
