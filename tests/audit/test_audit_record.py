"""record() seals entries into the chain at commit, and only then."""

import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from creditdesk import migrations
from creditdesk.actors import Actor, Channel
from creditdesk.audit import service as audit
from creditdesk.audit.chain import GENESIS, encode_entry, entry_hash, format_instant
from creditdesk.audit.models import AuditChainHead, AuditEntry
from creditdesk.db import make_session_factory, transaction
from creditdesk.errors import ValidationFailed
from tests.audit.conftest import FreshDatabase
from tests.audit.support import START, agent, build_chain


class Colour(StrEnum):
    RED = "red"


def test_a_chain_built_across_transactions_verifies(
    session_factory: sessionmaker[Session], engine: Engine
) -> None:
    entity_id = uuid.uuid4().hex
    for step in range(3):
        with transaction(session_factory) as session:
            audit.record(
                session,
                actor=agent(),
                action="credit.submitted",
                entity_type="credit",
                entity_id=entity_id,
                changes={"step": (step, step + 1)},
                now=START + timedelta(seconds=step),
            )

    with session_factory() as session:
        entries = audit.entries_for(session, entity_type="credit", entity_id=entity_id)
    result = audit.verify(engine)

    assert [json.loads(e.changes)["step"] for e in entries] == [[0, 1], [1, 2], [2, 3]]
    assert [e.seq for e in entries] == sorted(e.seq for e in entries)
    assert result.ok, result.problem
    assert result.checked >= 3


def test_entries_link_to_their_predecessor(fresh_engine: Engine) -> None:
    build_chain(make_session_factory(fresh_engine))

    with fresh_engine.connect() as connection:
        rows = connection.execute(
            sa.select(AuditEntry.seq, AuditEntry.prev_hash, AuditEntry.hash).order_by(
                AuditEntry.seq
            )
        ).all()
        head = connection.execute(sa.select(AuditChainHead)).one()

    assert [row.seq for row in rows] == list(range(1, 13))
    assert rows[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in pairwise(rows))
    assert (head.seq, head.hash) == (12, rows[-1].hash)
    assert audit.verify(fresh_engine) == audit.VerifyResult(True, 12, None, None)


def test_an_empty_chain_is_intact(fresh_engine: Engine) -> None:
    assert audit.verify(fresh_engine) == audit.VerifyResult(True, 0, None, None)


def test_nothing_is_written_before_the_commit_or_after_a_rollback(
    session_factory: sessionmaker[Session],
) -> None:
    entity_id = uuid.uuid4().hex
    with session_factory() as session:
        audit.record(
            session, actor=agent(), action="a", entity_type="t", entity_id=entity_id
        )
        session.flush()
        pending = audit.entries_for(session, entity_type="t", entity_id=entity_id)
        session.rollback()

        audit.record(
            session, actor=agent(), action="b", entity_type="t", entity_id=entity_id
        )
        session.commit()
        kept = audit.entries_for(session, entity_type="t", entity_id=entity_id)

    assert pending == []
    assert [entry.action for entry in kept] == ["b"]


def test_entries_in_a_rolled_back_savepoint_are_dropped(
    session_factory: sessionmaker[Session],
) -> None:
    entity_id = uuid.uuid4().hex

    def note(session: Session, action: str) -> None:
        audit.record(
            session, actor=agent(), action=action, entity_type="t", entity_id=entity_id
        )

    with session_factory() as session:
        note(session, "before")
        savepoint = session.begin_nested()
        note(session, "undone")
        inner = session.begin_nested()
        note(session, "undone-inner")
        inner.commit()
        savepoint.rollback()
        with session.begin_nested():
            note(session, "kept")
        session.commit()
        actions = [
            e.action
            for e in audit.entries_for(session, entity_type="t", entity_id=entity_id)
        ]

    assert actions == ["before", "kept"]


def test_the_time_comes_from_the_caller_or_the_commit(
    session_factory: sessionmaker[Session],
) -> None:
    entity_id = uuid.uuid4().hex
    given = datetime(
        2026, 5, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2))
    )
    before = datetime.now(UTC)
    with transaction(session_factory) as session:
        audit.record(
            session,
            actor=agent(),
            action="a",
            entity_type="t",
            entity_id=entity_id,
            now=given,
        )
        audit.record(
            session, actor=agent(), action="b", entity_type="t", entity_id=entity_id
        )
    after = datetime.now(UTC)

    with session_factory() as session:
        first, second = audit.entries_for(session, entity_type="t", entity_id=entity_id)

    assert first.occurred_at == given
    assert first.occurred_at.tzinfo is not None
    assert before <= second.occurred_at <= after


def test_changes_are_normalised_to_canonical_json(
    session_factory: sessionmaker[Session],
) -> None:
    entity_id = uuid.uuid4().hex
    paris = timezone(timedelta(hours=1))
    with transaction(session_factory) as session:
        audit.record(
            session,
            actor=Actor.system(Channel.WORKER),
            action="credit.changed",
            entity_type="credit",
            entity_id=entity_id,
            changes={
                "status": (Colour.RED, "blue"),
                "posted_at": (None, datetime(2026, 1, 2, 3, 4, 5, tzinfo=paris)),
                "due": (date(2026, 1, 31), None),
                "rate": (Decimal("1.50"), Decimal("2")),
                "tags": ({"b", "a"}, ["x", Colour.RED]),
                "limits": ({"gbp": 100}, {"gbp": 200}),
            },
        )

    with session_factory() as session:
        (entry,) = audit.entries_for(session, entity_type="credit", entity_id=entity_id)

    assert entry.changes == (
        '{"due":["2026-01-31",null],"limits":[{"gbp":100},{"gbp":200}],'
        '"posted_at":[null,"2026-01-02T02:04:05+00:00"],"rate":["1.50","2"],'
        '"status":["red","blue"],"tags":[["a","b"],["x","red"]]}'
    )
    assert entry.actor_id is None
    assert entry.actor_name == "system"
    assert entry.channel == "worker"


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"at": (None, datetime(2026, 1, 1))}, ValueError),  # noqa: DTZ001
        ({"x": (None, float("nan"))}, ValueError),
        ({"x": (None, object())}, TypeError),
        ({1: (None, 2)}, TypeError),
    ],
)
def test_values_that_cannot_be_recorded_are_refused(
    session: Session, changes: dict, error: type[Exception]
) -> None:
    with pytest.raises(error):
        audit.record(
            session,
            actor=agent(),
            action="a",
            entity_type="t",
            entity_id=1,
            changes=changes,
        )


def test_text_that_would_break_the_encoding_is_refused(session: Session) -> None:
    with pytest.raises(ValidationFailed) as refused:
        audit.record(
            session,
            actor=agent(),
            action="a",
            entity_type="t",
            entity_id=1,
            reason="split\x1fhere",
        )
    with pytest.raises(ValueError, match="control character"):
        audit.record(
            session, actor=agent(), action="a", entity_type="t\x00", entity_id=1
        )
    with pytest.raises(ValueError, match="longer than 64"):
        audit.record(
            session, actor=agent(), action="a" * 65, entity_type="t", entity_id=1
        )

    assert refused.value.issues[0].field == "reason"


def test_unusual_text_round_trips_and_verifies(fresh_engine: Engine) -> None:
    factory = make_session_factory(fresh_engine)
    reasons = [
        "",
        "tab\there, newline\nand CR\r",
        "quotes ' \" and back\\slash, 100% _",
        "ünïcødé ✓ and 😀",
        "-",
        "#",
    ]
    with transaction(factory) as session:
        for number, reason in enumerate(reasons):
            audit.record(
                session,
                actor=agent(name="José O'Brien"),
                action="note.added",
                entity_type="note",
                entity_id=number,
                changes={"text": (None, reason), "nested": (None, {"k": [reason]})},
                reason=reason,
                now=START,
            )

    with factory() as session:
        stored = [
            entry.reason
            for number in range(len(reasons))
            for entry in audit.entries_for(
                session, entity_type="note", entity_id=number
            )
        ]

    assert stored == reasons
    assert audit.verify(fresh_engine) == audit.VerifyResult(
        True, len(reasons), None, None
    )


def test_the_head_row_is_created_when_the_schema_lacks_it(
    new_database: FreshDatabase,
) -> None:
    with new_database("0001") as engine:
        # The seal itself without the seed of 0002: in Python on SQLite, in
        # the commit trigger on PostgreSQL.
        install_seal_trigger(engine)
        factory = make_session_factory(engine)
        build_chain(factory, transactions=2, per_transaction=2)

        with engine.connect() as connection:
            head = connection.execute(sa.select(AuditChainHead)).one()
        result = audit.verify(engine)

    assert (head.id, head.seq) == (1, 4)
    assert result == audit.VerifyResult(True, 4, None, None)


def test_each_stored_hash_is_the_documented_encoding(fresh_engine: Engine) -> None:
    # PostgreSQL hashes in its commit trigger, SQLite in Python: both must
    # give what encode_entry() gives for the stored columns.
    build_chain(make_session_factory(fresh_engine))

    with fresh_engine.connect() as connection:
        rows = connection.execute(
            sa.select(AuditEntry.__table__).order_by(AuditEntry.seq)
        ).all()

    # In the order recorded, within each transaction as across them.
    assert [row.entity_id for row in rows] == [str(n) for n in range(12)]
    for row in rows:
        fields = row._asdict()
        digest = fields.pop("hash")
        fields["occurred_at"] = format_instant(fields["occurred_at"])
        assert entry_hash(encode_entry(**fields)) == digest


@pytest.mark.postgres
def test_entries_left_unsealed_fail_verification(
    new_database: FreshDatabase,
) -> None:
    # A schema short of the sealing trigger keeps the queued entries; the
    # check must not call such a chain intact.
    with new_database("0002") as engine:
        build_chain(make_session_factory(engine), transactions=1, per_transaction=2)
        result = audit.verify(engine)

    assert not result.ok
    assert result.problem is not None
    assert result.problem.startswith("2 committed entries were never sealed")


def install_seal_trigger(engine: Engine) -> None:
    """Migration 0003's trigger alone, on a schema migrated short of it."""
    if engine.dialect.name != "postgresql":
        return
    scripts = ScriptDirectory.from_config(migrations.alembic_config(str(engine.url)))
    module = scripts.get_revision("0003").module
    with engine.begin() as connection:
        connection.execute(sa.text(module.SEAL_FUNCTION))
        connection.execute(sa.text(module.SEAL_TRIGGER))


def test_diff_keeps_only_changed_fields() -> None:
    before = {"status": "submitted", "amount": 100, "note": None, "gone": 1}
    after = {"status": "approved", "amount": 100, "note": None, "new": "x"}

    assert audit.diff(before, after) == {
        "status": ("submitted", "approved"),
        "gone": (1, None),
        "new": (None, "x"),
    }
    assert audit.diff(after, after) == {}


def test_search_filters_and_pages_newest_first(
    session_factory: sessionmaker[Session],
) -> None:
    entity_id = uuid.uuid4().hex
    other_actor = agent(user_id=int(uuid.uuid4().int % 10**9) + 10**9, name="bob")
    with transaction(session_factory) as session:
        for minute in range(5):
            audit.record(
                session,
                actor=other_actor if minute == 4 else agent(),
                action=f"step.{minute}",
                entity_type="case",
                entity_id=entity_id,
                now=START + timedelta(minutes=minute),
            )

    with session_factory() as session:
        first = audit.search(session, entity_type="case", entity_id=entity_id, limit=2)
        second = audit.search(
            session, entity_id=entity_id, limit=2, before_seq=first[-1].seq
        )
        window = audit.search(
            session,
            entity_id=entity_id,
            since=START + timedelta(minutes=1),
            until=START + timedelta(minutes=3),
            limit=10,
        )
        by_actor = audit.search(session, actor_id=other_actor.user_id, limit=10)

    assert [e.action for e in first] == ["step.4", "step.3"]
    assert [e.action for e in second] == ["step.2", "step.1"]
    assert [e.action for e in window] == ["step.2", "step.1"]
    assert [e.action for e in by_actor] == ["step.4"]


def test_committing_with_a_savepoint_open_keeps_its_entries(
    session_factory: sessionmaker[Session],
) -> None:
    entity_id = uuid.uuid4().hex
    with session_factory() as session:
        session.begin_nested()
        audit.record(
            session,
            actor=agent(),
            action="inside",
            entity_type="t",
            entity_id=entity_id,
        )
        session.commit()
        actions = [
            e.action
            for e in audit.entries_for(session, entity_type="t", entity_id=entity_id)
        ]

    assert actions == ["inside"]
