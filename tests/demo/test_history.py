"""The generated history: its shape, its consistency, and that the service
reads it back. One small history per backend, written into its own database."""

import gc
import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.access import service as access
from creditdesk.accounts.models import Account
from creditdesk.actors import Actor, Channel
from creditdesk.app import create_app
from creditdesk.approvals.models import ApprovalRequest, ApprovalStep, WorkItem
from creditdesk.audit import service as audit
from creditdesk.audit.models import AuditEntry
from creditdesk.billing.models import LedgerEntry, LedgerMemo
from creditdesk.cases.models import Case
from creditdesk.config import Settings
from creditdesk.credits import lifecycle
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.credits.schemas import DecisionOut
from creditdesk.db import create_engine, make_session_factory
from creditdesk.demo.history import HistoryExists, HistoryStats, write_history
from creditdesk.demo.history_columns import COLUMNS, ORDER
from creditdesk.demo.history_org import build_org
from creditdesk.demo.history_plan import Planner
from creditdesk.demo.history_rows import Ids
from creditdesk.demo.history_time import Stamps
from creditdesk.invoices.models import Invoice
from creditdesk.outbox.models import OutboxMessage
from creditdesk.policy.engine import Decision
from creditdesk.policy.schemas import Policy, default_policy_text, parse_policy
from creditdesk.reconciliation.models import ReconciliationFinding, ReconciliationRun
from creditdesk.users.models import Role, User
from tests.databases import scratch_database, server_url

SCALE = 2_000
SEED = 20_261_204
NOW = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)
S = CreditStatus


@dataclass(frozen=True)
class Written:
    url: str
    engine: Engine
    factory: sessionmaker[Session]
    stats: HistoryStats


def _write(
    tmp_path_factory: pytest.TempPathFactory, scale: int = SCALE
) -> Iterator[Written]:
    directory = tmp_path_factory.mktemp("history")
    with scratch_database(
        server_url(), prefix="creditdesk_hist", directory=directory
    ) as url:
        stats = write_history(url, scale=scale, seed=SEED, now=NOW)
        engine = create_engine(url)
        try:
            yield Written(url, engine, make_session_factory(engine), stats)
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Written]:
    yield from _write(tmp_path_factory)


@pytest.fixture(scope="module")
def credits(history: Written) -> list[BillingCredit]:
    with history.factory() as session:
        return list(
            session.scalars(sa.select(BillingCredit).order_by(BillingCredit.id))
        )


def _all(history: Written, model: type) -> list:
    with history.factory() as session:
        return list(session.scalars(sa.select(model)))


def _count(history: Written, model: type) -> int:
    with history.factory() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def test_the_counts_are_what_was_asked_for_and_what_was_reported(
    history: Written, credits: list[BillingCredit]
) -> None:
    stats = history.stats

    assert stats.credits == len(credits) == SCALE
    assert stats.cases == _count(history, Case)
    assert 0.3 * SCALE <= stats.cases <= 0.5 * SCALE
    assert stats.approval_requests == _count(history, ApprovalRequest)
    assert stats.work_items == _count(history, WorkItem)
    assert stats.ledger_memos == _count(history, LedgerMemo)
    assert stats.reconciliation_runs == _count(history, ReconciliationRun) >= 20
    assert stats.seconds > 0


def test_the_mix_is_a_contact_centre_s(
    history: Written, credits: list[BillingCredit]
) -> None:
    statuses = Counter(c.status for c in credits)
    currencies = Counter(c.currency for c in credits)
    outcomes = Counter(c.decision["outcome"] for c in credits)
    types = Counter(c.type for c in _all(history, Case))
    roles = Counter(u.role for u in _all(history, User))

    assert statuses[S.APPLIED] > SCALE // 2
    assert {S.REFUSED, S.REJECTED, S.VOIDED, S.RECALLED} <= set(statuses)
    assert outcomes["approved"] > outcomes["approval_required"] > outcomes["refused"]
    assert currencies["GBP"] > currencies["EUR"] > currencies["USD"] > 0
    assert types["billing_dispute"] > types["service_issue"] > 0
    assert {Role.AGENT, Role.JUNIOR_AGENT, Role.TEAM_LEAD, Role.MANAGER} <= set(roles)
    assert roles[Role.FINANCE] >= 1
    assert any(c.near_duplicate for c in credits)
    assert any(c.over_cap and c.status is S.APPLIED for c in credits)
    assert {f.kind.value for f in _all(history, ReconciliationFinding)} <= {
        "untracked",
        "missing",
        "mismatched",
    }


def _reachable() -> set[CreditStatus]:
    # A credit arrives as submitted and is judged straight away.
    seen, todo = {S.SUBMITTED}, [S.SUBMITTED]
    while todo:
        for target in lifecycle.ALLOWED[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_every_status_is_reachable_and_every_time_in_order(
    credits: list[BillingCredit],
) -> None:
    reachable = _reachable()

    for credit in credits:
        assert credit.status in reachable
        times = [
            t
            for t in (credit.created_at, credit.decided_at, credit.posted_at)
            if t is not None
        ]
        if credit.applied_at is not None:
            times.append(credit.applied_at)
        assert times == sorted(times), credit.id
        assert times[-1] <= credit.updated_at <= NOW
        assert credit.created_at >= NOW - timedelta(days=731)


def test_timestamps_match_the_status(credits: list[BillingCredit]) -> None:
    for credit in credits:
        decided = credit.status in (S.REFUSED, S.REJECTED, S.APPROVED, S.APPLIED)
        if decided:
            assert credit.decided_at is not None, credit.id
        if credit.status in (S.PENDING_APPROVAL, S.RECALLED):
            assert credit.decided_at is None
        if credit.status is S.APPLIED:
            assert credit.posted_at is not None and credit.applied_at is not None
            assert credit.external_ref is not None
        if credit.status is S.POSTING_FAILED:
            assert credit.last_error


def test_resolved_cases_were_resolved_after_their_credits_settled(
    history: Written, credits: list[BillingCredit]
) -> None:
    by_case: dict[int, list[BillingCredit]] = {}
    for credit in credits:
        by_case.setdefault(credit.case_id, []).append(credit)
    final = {S.APPLIED, S.REFUSED, S.REJECTED, S.RECALLED, S.VOIDED}

    cases = _all(history, Case)
    for case in cases:
        mine = by_case[case.id]
        if case.status.value == "resolved":
            assert case.resolved_at is not None and case.resolved_at >= case.opened_at
            for credit in mine:
                assert credit.status in final
                settled = credit.applied_at or credit.updated_at
                assert settled <= case.resolved_at
        else:
            assert case.resolved_at is None
        if case.status.value == "pending":
            assert any(c.status is S.PENDING_APPROVAL for c in mine)
        assert all(c.created_at >= case.opened_at for c in mine)
    assert Counter(c.status.value for c in cases)["resolved"] > len(cases) // 2


def test_credits_that_needed_approval_have_their_chain(
    history: Written, credits: list[BillingCredit]
) -> None:
    requests = {r.credit_id: r for r in _all(history, ApprovalRequest)}
    steps: dict[int, list[ApprovalStep]] = {}
    for step in _all(history, ApprovalStep):
        steps.setdefault(step.credit_id, []).append(step)
    items: dict[int, list[WorkItem]] = {}
    for item in _all(history, WorkItem):
        items.setdefault(item.credit_id, []).append(item)

    for credit in credits:
        needed = credit.decision["outcome"] == "approval_required"
        assert (credit.id in requests) == needed, credit.id
        if not needed:
            continue
        chain = sorted(steps[credit.id], key=lambda s: s.sequence)
        assert [s.kind for s in chain] == credit.decision["steps"]
        request = requests[credit.id]
        if credit.status is S.PENDING_APPROVAL:
            assert request.status.value == "pending"
            pending = [s for s in chain if s.status.value == "pending"]
            assert len(pending) == 1
            assert any(i.status.value == "pending" for i in items[credit.id])
        elif credit.status is S.REJECTED:
            (rejecting,) = [s for s in chain if s.status.value == "rejected"]
            (told,) = [i for i in items[credit.id] if i.kind.value == "rejected"]
            assert rejecting.comment and told.comment == rejecting.comment
            assert told.assignee_id == credit.requested_by_id
        elif credit.decided_at is not None:
            assert request.status.value == "approved"
            assert all(s.status.value == "approved" for s in chain)
            assert all(s.decided_at <= credit.decided_at for s in chain)
        for item in items[credit.id]:
            if item.decided_at is not None:
                assert item.decided_at >= item.assigned_at
                assert item.elapsed_seconds == int(
                    (item.decided_at - item.assigned_at).total_seconds()
                )


def test_posted_credits_have_their_outbox_message_and_ledger_memo(
    history: Written, credits: list[BillingCredit]
) -> None:
    memos = {m.credit_id: m for m in _all(history, LedgerMemo)}
    messages = {m.id: m for m in _all(history, OutboxMessage)}
    entries = Counter(e.memo_id for e in _all(history, LedgerEntry))

    for credit in credits:
        if credit.posted_at is None:
            assert credit.id not in memos
            continue
        memo = memos[credit.id]
        assert credit.external_ref == memo.reference
        assert memo.amount_minor == credit.amount_minor
        message = messages[int(memo.idempotency_key.removeprefix("outbox-"))]
        assert message.topic == "credit.post"
        assert message.payload == {"credit_id": credit.id}
        assert message.status.value == "delivered"
        reversed_ = credit.status is S.VOIDED
        assert (memo.status.value == "reversed") == reversed_
        assert entries[memo.id] == (2 if reversed_ else 1)


def test_decisions_are_the_engine_s(credits: list[BillingCredit]) -> None:
    for credit in credits:
        DecisionOut.model_validate(credit.decision)
        decision = Decision.from_dict(credit.decision)
        assert decision.policy_version == credit.policy_version
        assert decision.rules
        assert credit.near_duplicate == ("near_duplicate" in decision.flags)
        assert credit.over_cap == ("over_cap" in decision.flags)
        if credit.status is S.REFUSED:
            assert decision.outcome.value == "refused"
        if decision.outcome.value == "approved":
            assert decision.rule_ids == ["amount.within_auto_limit"]


def test_the_cached_decisions_are_the_ones_full_facts_give() -> None:
    policy = parse_policy(default_policy_text())

    def generate(exact: bool) -> list[dict[str, list]]:
        planner = _planner(policy, seed=SEED, scale=SCALE)
        planner.rules.exact_cache_keys = not exact
        return [chunk.tables for chunk in planner.chunks(500)]

    assert generate(exact=False) == generate(exact=True)


def _rows_of(tables: dict[str, list], table: str) -> list[tuple]:
    """A chunk's flat values of ``table`` cut back into its rows."""
    values = tables.get(table, [])
    width = len(COLUMNS[table])
    assert len(values) % width == 0
    return [tuple(values[at : at + width]) for at in range(0, len(values), width)]


def _planner(policy: Policy, *, seed: int, scale: int) -> Planner:
    """A planner over a new organisation, every id starting at 1."""
    rng, stamps = random.Random(seed), Stamps(NOW)
    bases = dict.fromkeys(ORDER, 1)
    org = build_org(rng, scale=scale, bases=bases, stamps=stamps)
    return Planner(
        rng, org, policy=policy, version=1, stamps=stamps, ids=Ids(bases), scale=scale
    )


def _rows(written: Written) -> dict[str, list[tuple]]:
    with written.engine.connect() as connection:
        return {
            table: [
                tuple(row)
                for row in connection.execute(
                    sa.text(f"SELECT * FROM {table} ORDER BY id")
                )
            ]
            for table in ORDER
        }


def test_the_same_seed_writes_the_same_rows(
    history: Written, tmp_path_factory: pytest.TempPathFactory
) -> None:
    again = _write(tmp_path_factory)
    second = next(again)
    try:
        assert _rows(second) == _rows(history)
    finally:
        again.close()


def test_the_audit_trail_verifies_and_records_the_run(history: Written) -> None:
    result = audit.verify(history.engine)

    assert result.ok, result.problem
    with history.factory() as session:
        entry = session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "demo.history_written")
        ).one()
    assert json.loads(entry.changes)["credits"] == [None, SCALE]


def test_a_second_history_is_refused(history: Written) -> None:
    with pytest.raises(HistoryExists):
        write_history(history.url, scale=10, seed=SEED, now=NOW)

    assert _count(history, BillingCredit) == SCALE


def _client(history: Written) -> Iterator[TestClient]:
    settings = Settings(database_url=history.url, env="test")
    with TestClient(create_app(settings, engine=history.engine)) as client:
        yield client


def _token(history: Written, role: Role) -> dict[str, str]:
    with history.factory() as session, session.begin():
        user = session.scalars(
            sa.select(User).where(User.role == role).order_by(User.id).limit(1)
        ).one()
        token = access.issue_token(
            session,
            user=user,
            actor=Actor.system(Channel.CLI, name="test"),
            now=datetime.now(UTC),
            ttl=timedelta(hours=1),
        )
    return {"Authorization": f"Bearer {token}"}


def test_the_api_lists_the_generated_credits(history: Written) -> None:
    finance, agent = _token(history, Role.FINANCE), _token(history, Role.AGENT)
    client = next(iter_client := _client(history))
    try:
        everything = client.get(
            "/api/v1/credits", params={"limit": 200}, headers=finance
        )
        own = client.get("/api/v1/credits", params={"limit": 200}, headers=agent)
        pending = client.get(
            "/api/v1/credits",
            params={"status": "pending_approval", "limit": 50},
            headers=finance,
        )
    finally:
        iter_client.close()

    assert everything.status_code == 200, everything.text
    items = everything.json()["items"]
    assert len(items) == 200
    assert [i["id"] for i in items] == sorted((i["id"] for i in items), reverse=True)
    assert all(i["decision"]["policy_version"] == 1 for i in items)
    assert own.status_code == 200, own.text
    assert 0 < len(own.json()["items"]) < SCALE
    assert pending.status_code == 200, pending.text
    assert all(i["status"] == "pending_approval" for i in pending.json()["items"])


@pytest.mark.parametrize("scale", [1, 7, 333])
def test_any_scale_gets_exactly_its_credits_and_no_empty_case(scale: int) -> None:
    policy = parse_policy(default_policy_text())
    planner = _planner(policy, seed=scale, scale=scale)

    credits, cases = [], []
    for chunk in planner.chunks(100):
        credits += _rows_of(chunk.tables, "billing_credits")
        cases += _rows_of(chunk.tables, "cases")

    assert len(credits) == scale
    assert {c[0] for c in cases} == {c[1] for c in credits}
    assert planner.cases == len(cases)


def test_disputes_follow_the_seasons_and_a_few_agents_game_the_limit(
    credits: list[BillingCredit],
) -> None:
    weekdays = Counter(c.created_at.weekday() for c in credits)
    months = Counter(c.created_at.month for c in credits)
    just_under = Counter(
        c.requested_by_id
        for c in credits
        if c.type == "goodwill" and 1_900 <= c.amount_minor < 2_500 and c.near_duplicate
    )

    assert weekdays[0] > 3 * weekdays[6]
    assert months[12] + months[1] + months[2] > months[6] + months[7] + months[8]
    gamer, flagged = just_under.most_common(1)[0]
    assert flagged >= 5
    assert sum(1 for c in credits if c.requested_by_id == gamer) < SCALE // 5


@pytest.fixture
def small_history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Written]:
    """A history of its own, for a test that adds to it."""
    yield from _write(tmp_path_factory, scale=300)


def test_the_service_raises_new_credits_on_top_of_the_history(
    small_history: Written,
) -> None:
    history = small_history
    agent = _token(history, Role.AGENT)
    with history.factory() as session:
        agent_id = session.scalars(
            sa.select(User.id).where(User.role == Role.AGENT).order_by(User.id).limit(1)
        ).one()
        case = session.scalars(
            sa.select(Case)
            .where(Case.owner_id == agent_id, Case.status.in_(["open", "pending"]))
            .order_by(Case.id)
            .limit(1)
        ).one()
        last_id = session.scalar(sa.select(sa.func.max(BillingCredit.id)))
    client = next(iter_client := _client(history))
    try:
        response = client.post(
            "/api/v1/credits",
            json={
                "case_id": case.id,
                "amount": "5.00",
                "currency": case.currency,
                "type": "goodwill",
                "reason": "goodwill",
                "justification": "A goodwill gesture on top of the history.",
            },
            headers=agent,
        )
    finally:
        iter_client.close()

    assert response.status_code == 201, response.text
    assert response.json()["id"] == last_id + 1


def test_the_accounts_have_teams_and_invoices_for_the_leakage_shares(
    history: Written,
) -> None:
    accounts = _all(history, Account)
    invoices = _all(history, Invoice)

    assert all(a.team_id is not None for a in accounts)
    assert {i.issued_on.day for i in invoices} == {1}
    assert len({i.account_id for i in invoices}) >= 0.9 * len(accounts)


def test_a_credit_keeps_its_first_request_s_time_and_its_posted_month(
    history: Written, credits: list[BillingCredit]
) -> None:
    first: dict[int, datetime] = {}
    for request in _all(history, ApprovalRequest):
        known = first.get(request.credit_id)
        if known is None or request.created_at < known:
            first[request.credit_id] = request.created_at

    assert {c.id: c.approval_requested_at for c in credits if c.id in first} == first
    assert all(c.approval_requested_at is None for c in credits if c.id not in first)
    assert all(
        c.posted_month == (c.posted_at and c.posted_at.strftime("%Y-%m"))
        for c in credits
    )
    assert any(c.posted_month for c in credits)


def test_generating_leaves_no_reference_cycles_behind() -> None:
    # The generating process runs without the cycle collector, so what it
    # drops must be freed by reference counting alone.
    policy = parse_policy(default_policy_text())
    gc.collect()
    gc.disable()
    try:
        planner = _planner(policy, seed=SEED, scale=SCALE)
        chunks = sum(1 for _ in planner.chunks(500))
        assert chunks > 1
        assert gc.collect() == 0
    finally:
        gc.enable()
