"""The demo organisation: its shape, and that building it twice adds nothing."""

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased, sessionmaker

from creditdesk.accounts.models import Account, AccountStatus, Contract
from creditdesk.actors import Actor, Channel
from creditdesk.audit.models import AuditEntry
from creditdesk.cases.models import Case, CaseStatus, CaseType
from creditdesk.db import transaction
from creditdesk.demo import service as demo
from creditdesk.demo.service import DemoOrg, build_demo
from creditdesk.invoices.models import Invoice
from creditdesk.users.models import Role, Team, User

NOW = datetime(2025, 5, 2, 8, 0, tzinfo=UTC)
ACTOR = Actor.system(Channel.CLI, name="cli:test")


def _build(session_factory: sessionmaker[Session]) -> DemoOrg:
    with transaction(session_factory) as session:
        return build_demo(session, actor=ACTOR, now=NOW)


def _counts(session_factory: sessionmaker[Session]) -> dict[str, int]:
    with session_factory() as session:
        return {
            model.__tablename__: session.scalar(
                sa.select(sa.func.count()).select_from(model)
            )
            or 0
            for model in (User, Team, Account, Contract, Case, Invoice, AuditEntry)
        }


def test_building_the_demo_twice_changes_nothing(
    session_factory: sessionmaker[Session],
) -> None:
    first = _build(session_factory)
    before = _counts(session_factory)

    second = _build(session_factory)

    assert second.created == 0
    assert _counts(session_factory) == before
    assert [u.id for u in second.users] == [u.id for u in first.users]
    assert [a.id for a in second.accounts] == [a.id for a in first.accounts]
    assert [c.id for c in second.cases] == [c.id for c in first.cases]


def test_the_demo_has_the_documented_people_and_reporting_lines(
    session_factory: sessionmaker[Session],
) -> None:
    org = _build(session_factory)
    people = {user.username: user for user in org.users}

    with session_factory() as session:
        lines = dict(
            session.execute(
                sa.select(User.username, Team.name).outerjoin(User.team)
            ).all()
        )
        boss = aliased(User)
        bosses = dict(
            session.execute(
                sa.select(User.username, boss.username).join(
                    boss, User.manager_id == boss.id
                )
            ).all()
        )

    assert set(people) == {spec.username for spec in demo.USERS}
    assert set(Role) <= {user.role for user in org.users}
    assert lines["alex.agent"] == lines["jade.junior"] == "Billing North"
    assert lines["sam.agent"] == lines["jon.junior"] == "Billing South"
    assert lines["maya.manager"] == "Contact Centre Management"
    assert bosses["alex.agent"] == bosses["jade.junior"] == "tara.lead"
    assert bosses["sam.agent"] == bosses["jon.junior"] == "tom.lead"
    assert bosses["tara.lead"] == bosses["tom.lead"] == "maya.manager"
    assert "maya.manager" not in bosses


def test_the_demo_accounts_mix_currencies_statuses_and_contracts(
    session_factory: sessionmaker[Session],
) -> None:
    org = _build(session_factory)
    ids = [account.id for account in org.accounts]

    with session_factory() as session:
        contracted = set(
            session.scalars(
                sa.select(Contract.account_id).where(Contract.account_id.in_(ids))
            )
        )

    assert len(org.accounts) == 20
    assert {a.currency for a in org.accounts} == {"GBP", "EUR"}
    assert sum(a.status == AccountStatus.SUSPENDED for a in org.accounts) == 2
    assert len(ids) - len(contracted) == 1


def test_each_team_looks_after_half_the_accounts_and_each_is_invoiced(
    session_factory: sessionmaker[Session],
) -> None:
    org = _build(session_factory)
    ids = [account.id for account in org.accounts]

    with session_factory() as session:
        teams = dict(
            session.execute(
                sa.select(Team.name, sa.func.count())
                .join(Account, Account.team_id == Team.id)
                .where(Account.id.in_(ids))
                .group_by(Team.name)
            ).all()
        )
        invoices = session.scalars(
            sa.select(Invoice).where(Invoice.account_id.in_(ids))
        ).all()
        overcharged = session.scalar(
            sa.select(Invoice.issued_on).where(Invoice.reference == "INV-1001-0042")
        )

    assert teams == {"Billing North": 10, "Billing South": 10}
    # Another test may have built the demo first, on another day: the
    # references, not the dates, make an account's three invoices.
    per_account: dict[int, list] = {}
    for invoice in invoices:
        per_account.setdefault(invoice.account_id, []).append(invoice.issued_on)
    assert sorted(per_account) == sorted(ids)
    for days in per_account.values():
        days.sort()
        assert len(days) == 3 and {day.day for day in days} == {1}
        assert days[0] < days[1] < days[2]
        assert (days[2] - days[0]).days < 62
    # The disputed invoice is its account's latest.
    demo_1001 = next(a.id for a in org.accounts if a.number == "DEMO-1001")
    assert overcharged == max(per_account[demo_1001])


def test_the_overcharge_case_is_ready_for_a_ten_pound_credit(
    session_factory: sessionmaker[Session],
) -> None:
    org = _build(session_factory)
    alex = next(u for u in org.users if u.username == "alex.agent")

    case = next(c for c in org.cases if c.subject == "Overcharged by £10")

    assert case.type == CaseType.BILLING_DISPUTE
    assert case.product == "broadband"
    assert (case.disputed_amount_minor, case.currency) == (1000, "GBP")
    assert case.owner_id == alex.id
    assert all(c.status == CaseStatus.OPEN for c in org.cases)
