"""Decisions that arrive at the same moment, each in its own transaction.

Only PostgreSQL runs them truly at once (SQLite serialises writers), so the
credit's row lock is what must let exactly one of them stand.
"""

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from creditdesk.access.service import actor_for
from creditdesk.actors import Channel
from creditdesk.config import Settings
from creditdesk.credits import decisions
from creditdesk.db import transaction
from creditdesk.errors import DomainError
from creditdesk.users.models import Role, User
from tests.approvals.support import Person, World

Outcome = tuple[int, str | None]
SETTINGS = Settings(env="test")


def _race(world: World, calls: list[Callable[[Session], object]]) -> list[Outcome]:
    """Run each call in its own transaction, released together; each gives
    (200, None) or the refusal's (status, rule)."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[Outcome] = [(0, None)] * len(calls)

    def run(index: int) -> None:
        barrier.wait(timeout=10)
        try:
            with transaction(world.factory) as session:
                calls[index](session)
            outcomes[index] = (200, None)
        except DomainError as error:
            outcomes[index] = (error.status, error.extra.get("rule"))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return sorted(outcomes, key=lambda o: o[0])


def _decide(credit_id: int, who: Person, *, approve: bool) -> Callable:
    def call(session: Session) -> object:
        user = session.get_one(User, who.id)
        return decisions.decide(
            session,
            credit_id=credit_id,
            user=user,
            approve=approve,
            comment=None if approve else "Not covered",
            actor=actor_for(user, Channel.API),
            now=datetime.now(UTC),
            settings=SETTINGS,
            item_id=None,
        )

    return call


def _recall(credit_id: int, who: Person) -> Callable:
    def call(session: Session) -> object:
        user = session.get_one(User, who.id)
        return decisions.recall(
            session,
            credit_id=credit_id,
            user=user,
            actor=actor_for(user, Channel.API),
            now=datetime.now(UTC),
            settings=SETTINGS,
        )

    return call


def _lost(outcome: Outcome) -> bool:
    return outcome in {(409, None), (403, "not_assigned")}


@pytest.mark.postgres
@pytest.mark.parametrize("approve_both", [True, False])
@pytest.mark.parametrize("attempt", range(3))
def test_two_queue_members_deciding_at_once_one_decision_stands(
    world: World, approve_both: bool, attempt: int
) -> None:
    first = world.person(Role.FINANCE)
    second = world.person(Role.FINANCE)
    credit = world.raise_credit(world.line().agent, "350.00")

    winner, loser = _race(
        world,
        [
            _decide(credit["id"], first, approve=True),
            _decide(credit["id"], second, approve=approve_both),
        ],
    )

    assert winner == (200, None), f"attempt {attempt}"
    assert _lost(loser), f"attempt {attempt}: {loser}"
    actions = world.actions(credit["id"])
    decided = actions.count("approval.step_approved")
    decided += actions.count("approval.step_rejected")
    assert decided == 1
    decided_items = [
        i
        for i in world.items(credit["id"])
        if i.status.value in {"approved", "rejected"}
    ]
    assert len(decided_items) == 1
    status = world.status(credit["id"])
    assert status in {"approved", "rejected"}
    assert world.postings(credit["id"]) == (1 if status == "approved" else 0)


@pytest.mark.postgres
@pytest.mark.parametrize("attempt", range(3))
def test_two_steps_decided_at_once_never_skip_one(world: World, attempt: int) -> None:
    # The lead approves step one while a finance member tries the same
    # credit: finance holds nothing yet, or acts on step two after it opens.
    line = world.line()
    finance = world.person(Role.FINANCE)
    credit = world.raise_credit(line.agent, "650.00")

    outcomes = _race(
        world,
        [
            _decide(credit["id"], line.lead, approve=True),
            _decide(credit["id"], finance, approve=True),
        ],
    )

    assert (200, None) in outcomes, f"attempt {attempt}: {outcomes}"
    steps = world.steps(credit["id"])
    assert steps[0].status.value == "approved"
    if outcomes == [(200, None), (200, None)]:
        assert steps[1].status.value == "approved"
        assert world.postings(credit["id"]) == 1
    else:
        assert steps[1].status.value == "pending"
        assert world.postings(credit["id"]) == 0


@pytest.mark.postgres
@pytest.mark.parametrize("attempt", range(3))
def test_recall_racing_an_approval_one_wins(world: World, attempt: int) -> None:
    line = world.line()
    credit = world.raise_credit(line.agent, "50.00")

    outcomes = _race(
        world,
        [
            _decide(credit["id"], line.lead, approve=True),
            _recall(credit["id"], line.agent),
        ],
    )

    assert [o[0] for o in outcomes] == [200, 409], f"attempt {attempt}: {outcomes}"
    status = world.status(credit["id"])
    assert status in {"approved", "recalled"}
    assert world.postings(credit["id"]) == (1 if status == "approved" else 0)
    assert world.open_items(credit["id"]) == []
    if status == "recalled":
        [item] = world.items(credit["id"])
        assert item.status.value == "recalled"
