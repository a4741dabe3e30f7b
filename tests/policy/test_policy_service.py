"""The policy in force, applying versions, and judging a credit.

Audit entries are sealed at commit, so the tests that look for them commit on
a fresh database of their own instead of changing the policy under the run.
"""

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.accounts.models import Account, AccountStatus
from creditdesk.actors import Actor, Channel
from creditdesk.audit.models import AuditEntry
from creditdesk.db import create_engine, make_session_factory, transaction
from creditdesk.errors import Conflict, NotFound, ValidationFailed
from creditdesk.policy import facts as policy_facts
from creditdesk.policy import service
from creditdesk.policy.engine import Outcome, evaluate
from creditdesk.policy.schemas import checksum, default_policy_text, parse_policy
from tests.policy.factories import (
    NOW,
    make_account,
    make_case,
    make_contract,
    make_credit,
    make_customer,
    make_user,
)

ACTOR = Actor.system(Channel.CLI, name="cli:policy-tests")


@pytest.fixture(scope="module")
def fresh(fresh_url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(fresh_url)
    yield make_session_factory(engine)
    engine.dispose()


def _policy_audit(session: Session, version: int) -> list[AuditEntry]:
    return list(
        session.scalars(
            sa.select(AuditEntry).where(
                AuditEntry.entity_type == service.AUDIT_ENTITY,
                AuditEntry.entity_id == str(version),
            )
        )
    )


def _harmless_document() -> tuple[str, str]:
    """The default plus one reason code nobody else uses."""
    code = f"t_{uuid.uuid4().hex[:12]}"
    text = default_policy_text().replace(
        "reason_codes:\n", f"reason_codes:\n  {code}: {{label: Test only}}\n", 1
    )
    return text, code


# Runs first in this module, while the fresh database has no policy.
def test_an_empty_database_gets_the_shipped_default_as_version_1(
    fresh: sessionmaker[Session],
) -> None:
    with transaction(fresh) as session:
        active = service.active_policy(session, now=NOW)
        again = service.active_policy(session, now=NOW)

    with fresh() as session:
        row = service.version_row(session, 1)
        entries = _policy_audit(session, 1)
        assert service.active_policy(session).version == 1

    assert (active.version, again.version) == (1, 1)
    assert active.policy == parse_policy(default_policy_text())
    assert (row.created_by, row.created_at) == ("system", NOW)
    assert row.document == default_policy_text()
    assert row.checksum == checksum(default_policy_text())
    assert [(e.action, e.occurred_at, e.actor_name) for e in entries] == [
        ("policy.applied", NOW, "system")
    ]
    assert json.loads(entries[0].changes)["version"] == [None, 1]


def test_apply_puts_the_next_version_in_force_and_audits_it(
    fresh: sessionmaker[Session],
) -> None:
    text, code = _harmless_document()
    with transaction(fresh) as session:
        before = service.active_policy(session, now=NOW)
        row = service.apply_policy(
            session, text=text, actor=ACTOR, now=NOW, comment="adds a test reason"
        )
        version = row.version

    with fresh() as session:
        after = service.active_policy(session)
        stored = service.version_row(session, version)
        previous = service.policy_version(session, before.version)
        [entry] = _policy_audit(session, version)

    assert version == before.version + 1
    assert after.version == version
    assert code in after.policy.reason_codes
    assert code not in previous.policy.reason_codes
    assert (stored.created_by, stored.comment, stored.document) == (
        ACTOR.name,
        "adds a test reason",
        text,
    )
    assert (entry.action, entry.actor_name, entry.channel, entry.reason) == (
        "policy.applied",
        ACTOR.name,
        "cli",
        "adds a test reason",
    )
    changes = json.loads(entry.changes)
    assert changes["version"] == [before.version, version]
    assert changes["checksum"] == [checksum(default_policy_text()), checksum(text)]


def test_an_invalid_document_is_refused_and_changes_nothing(
    session: Session,
) -> None:
    before = service.active_policy(session, now=NOW)
    text = default_policy_text().replace('GBP: "1000.00"', 'GBP: "100.00"')

    with pytest.raises(ValidationFailed) as caught:
        service.apply_policy(session, text=text, actor=ACTOR, now=NOW)

    assert caught.value.issues[0].field == "approval_matrix.bands.1.up_to.GBP"
    assert service.active_policy(session, now=NOW).version == before.version


def test_a_chain_naming_an_unknown_user_is_refused(session: Session) -> None:
    before = service.active_policy(session, now=NOW)
    ghost = f"ghost-{uuid.uuid4().hex[:8]}"
    text = default_policy_text().replace(
        "steps: [manager, manager_2, finance]",
        f"steps: [manager, {{approver: user:{ghost}}}]",
    )

    with pytest.raises(ValidationFailed) as caught:
        service.apply_policy(session, text=text, actor=ACTOR, now=NOW)

    assert caught.value.issues[0].field == "approval_matrix.bands.2.steps.1.approver"
    assert ghost in caught.value.issues[0].message
    assert service.active_policy(session, now=NOW).version == before.version


def test_a_chain_naming_a_real_user_is_applied(
    fresh: sessionmaker[Session],
) -> None:
    with transaction(fresh) as session:
        named = make_user(session)
        text = default_policy_text().replace(
            "steps: [manager, manager_2, finance]",
            f"steps: [manager, [{named.username}], finance]",
        )
        row = service.apply_policy(session, text=text, actor=ACTOR, now=NOW)
    with fresh() as session:
        active = service.active_policy(session, now=NOW)
        labels = [s.label for s in active.policy.approval_matrix.bands[2].steps]
    assert active.version == row.version
    assert labels == ["manager", f"group:{named.username}", "queue:finance"]


def test_an_unknown_version_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound):
        service.policy_version(session, 10**9)


def _wait_for_a_lock_waiter(session: Session, deadline_seconds: float) -> bool:
    deadline = time.monotonic() + deadline_seconds
    waiting = sa.text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while time.monotonic() < deadline:
        found = session.execute(waiting).scalar_one()
        # pg_stat_activity is a snapshot per transaction: end it to look again.
        session.rollback()
        if found:
            return True
        time.sleep(0.02)
    return False


@pytest.mark.postgres
def test_two_concurrent_applies_one_wins_one_conflicts(
    fresh: sessionmaker[Session],
) -> None:
    text, _code = _harmless_document()
    outcome: dict[str, object] = {}

    def second() -> None:
        with fresh() as other:
            try:
                row = service.apply_policy(other, text=text, actor=ACTOR, now=NOW)
                outcome["version"] = row.version
            except Conflict as exc:
                outcome["conflict"] = exc.detail

    with fresh() as first:
        mine = service.apply_policy(first, text=text, actor=ACTOR, now=NOW)
        # The second reads the same latest version, then waits on our row.
        thread = threading.Thread(target=second)
        thread.start()
        with fresh() as watcher:
            blocked = _wait_for_a_lock_waiter(watcher, 10)
        first.commit()
        thread.join(10)

    assert blocked
    assert not thread.is_alive()
    assert outcome == {
        "conflict": f"Policy version {mine.version} was applied by someone else "
        "at the same time; review it and apply again"
    }


def _request(**changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "requester_role": "agent",
        "amount_minor": 1_000,
        "currency": "GBP",
        "credit_type": "goodwill",
        "reason": "goodwill",
        "now": NOW,
    }
    request.update(changes)
    return request


def test_judge_uses_the_policy_in_force_and_the_gathered_facts(
    session: Session,
) -> None:
    case = make_customer(session)
    account = session.get(Account, case.account_id)
    assert account is not None
    make_credit(session, case=case, created_at=NOW - timedelta(days=2))
    request = _request()

    decision = service.judge(session, case=case, account=account, **request)

    active = service.active_policy(session, now=NOW)
    facts = policy_facts.gather(
        session, case=case, account=account, policy=active.policy, **request
    )
    assert facts.near_duplicate is True
    assert decision == evaluate(active.policy, active.version, facts)
    assert decision.outcome is Outcome.APPROVAL_REQUIRED
    assert decision.rule_ids == ["duplicate.suspected"]


def test_judge_refuses_on_an_inactive_account(session: Session) -> None:
    account = make_account(session, status=AccountStatus.CLOSED)
    make_contract(session, account=account)
    case = make_case(session, account=account, owner=make_user(session))

    decision = service.judge(
        session, case=case, account=account, **_request(amount_minor=500)
    )

    assert decision.outcome is Outcome.REFUSED
    assert decision.rule_ids == ["account.inactive"]
    assert decision.steps == []


def test_judge_leaves_out_the_credit_being_judged_again(session: Session) -> None:
    case = make_customer(session)
    account = session.get(Account, case.account_id)
    assert account is not None
    itself = make_credit(session, case=case, created_at=NOW)

    decision = service.judge(
        session,
        case=case,
        account=account,
        **_request(exclude_credit_id=itself.id),
    )

    assert decision.outcome is Outcome.APPROVED
    assert decision.rule_ids == ["amount.within_auto_limit"]


def test_a_comment_longer_than_the_audit_keeps_is_refused(session: Session) -> None:
    before = service.active_policy(session, now=NOW)
    text, _ = _harmless_document()
    comment = "x" * (service.COMMENT_MAX + 1)

    with pytest.raises(ValidationFailed) as caught:
        service.apply_policy(session, text=text, actor=ACTOR, now=NOW, comment=comment)

    assert caught.value.issues[0].field == "comment"
    assert service.active_policy(session, now=NOW).version == before.version
