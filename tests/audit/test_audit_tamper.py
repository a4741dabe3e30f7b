"""The database refuses edits, and verify() finds the ones made behind its back.

Each test here gets a database of its own (the ``chain`` fixture: 12 entries
sealed in four transactions), because tampering breaks a chain for good.
"""

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine

from creditdesk import migrations
from creditdesk.audit import service as audit
from creditdesk.audit.chain import payload_sql
from creditdesk.audit.scan import Segment, postgres_rows, walk_rows
from creditdesk.audit.verify import VerifyResult
from creditdesk.db import make_session_factory
from tests.audit.support import BACKEND, behind_the_triggers, build_chain

TAMPER_SEQ = 6  # reason is NULL there, occurred_at START + 5 minutes


def verify_everywhere(engine: Engine) -> VerifyResult:
    """verify() in one process, and split across processes where supported."""
    result = audit.verify(engine, workers=1)
    for workers in (2, 3, 5):
        assert audit.verify(engine, workers=workers) == result
    with engine.connect() as connection:
        assert audit.verify(connection) == result
    return result


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entries SET reason = 'rewritten' WHERE seq = 3",
        "UPDATE audit_entries SET seq = seq + 100",
        "DELETE FROM audit_entries WHERE seq = 12",
        "DELETE FROM audit_entries",
        "DELETE FROM audit_chain_head",
        "UPDATE audit_chain_head SET seq = 3",
    ],
)
def test_the_database_refuses_to_rewrite_history(chain: Engine, statement: str) -> None:
    with pytest.raises(sa.exc.DBAPIError) as refused, chain.begin() as connection:
        connection.exec_driver_sql(statement)

    message = str(refused.value.orig)
    assert "refused, " in message
    assert message.split(":", maxsplit=1)[0] in statement
    assert verify_everywhere(chain) == VerifyResult(True, 12, None, None)


@pytest.mark.skipif(BACKEND != "postgresql", reason="TRUNCATE is PostgreSQL's")
@pytest.mark.parametrize("table", ["audit_entries", "audit_chain_head"])
def test_postgres_refuses_truncate(chain: Engine, table: str) -> None:
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), chain.begin() as c:
        c.exec_driver_sql(f"TRUNCATE {table}")

    assert audit.verify(chain).ok


def test_the_head_may_move_forward(chain: Engine) -> None:
    # Sealing needs this; the trigger only stops the head moving back.
    build_chain(make_session_factory(chain), transactions=1, per_transaction=2)

    assert audit.verify(chain) == VerifyResult(True, 14, None, None)


TIMESTAMP = (
    "'2020-01-01 00:00:00.000000+00'"
    if BACKEND == "postgresql"
    else "'2020-01-01 00:00:00.000000'"
)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("occurred_at", TIMESTAMP),
        ("actor_id", "4242"),
        ("actor_id", "NULL"),
        ("actor_name", "'mallory'"),
        ("channel", "'web'"),
        ("entity_type", "'case'"),
        ("entity_id", "'999'"),
        ("action", "'credit.voided'"),
        ("changes", "'{}'"),
        ("reason", "'approved by phone'"),
        ("reason", "''"),
        ("hash", "'" + "e" * 64 + "'"),
    ],
)
def test_a_changed_field_is_found(chain: Engine, column: str, value: str) -> None:
    with behind_the_triggers(chain) as connection:
        changed = connection.exec_driver_sql(
            f"UPDATE audit_entries SET {column} = {value} WHERE seq = {TAMPER_SEQ}"
        )
        assert changed.rowcount == 1

    result = verify_everywhere(chain)

    assert result.ok is False
    assert result.first_bad_seq == TAMPER_SEQ
    assert result.checked == TAMPER_SEQ - 1
    assert (
        result.problem
        == f"entry {TAMPER_SEQ} was altered: its content does not match its hash"
    )


def test_a_rewritten_link_is_found(chain: Engine) -> None:
    with behind_the_triggers(chain) as connection:
        connection.exec_driver_sql(
            f"UPDATE audit_entries SET prev_hash = '{'f' * 64}' WHERE seq = 9"
        )

    result = verify_everywhere(chain)

    assert (result.ok, result.first_bad_seq, result.checked) == (False, 9, 8)
    assert "does not follow entry 8" in str(result.problem)


@pytest.mark.parametrize("seq", [1, 7, 8])
def test_a_deleted_entry_is_found(chain: Engine, seq: int) -> None:
    with behind_the_triggers(chain) as connection:
        connection.exec_driver_sql(f"DELETE FROM audit_entries WHERE seq = {seq}")

    result = verify_everywhere(chain)

    assert (result.ok, result.first_bad_seq, result.checked) == (False, seq, seq - 1)
    assert result.problem == f"entry {seq} is missing (next entry is {seq + 1})"


def test_reordered_entries_are_found(chain: Engine) -> None:
    # Swap entries 5 and 6: each keeps its content but takes the other's seq.
    with behind_the_triggers(chain) as connection:
        connection.exec_driver_sql("UPDATE audit_entries SET seq = -5 WHERE seq = 5")
        connection.exec_driver_sql("UPDATE audit_entries SET seq = 5 WHERE seq = 6")
        connection.exec_driver_sql("UPDATE audit_entries SET seq = 6 WHERE seq = -5")

    result = verify_everywhere(chain)

    assert (result.ok, result.first_bad_seq, result.checked) == (False, 5, 4)
    assert "entry 5 does not follow entry 4" in str(result.problem)


def test_a_truncated_tail_is_found(chain: Engine) -> None:
    with behind_the_triggers(chain) as connection:
        connection.exec_driver_sql("DELETE FROM audit_entries WHERE seq > 10")

    result = verify_everywhere(chain)

    assert result == VerifyResult(
        False, 10, 11, "entries 11 to 12 are missing: the chain head names seq 12"
    )


def test_an_entry_beyond_the_head_is_found(chain: Engine) -> None:
    with behind_the_triggers(chain) as connection:
        connection.exec_driver_sql("UPDATE audit_chain_head SET seq = 11")

    result = verify_everywhere(chain)

    assert (result.ok, result.first_bad_seq) == (False, 12)
    assert "beyond the chain head" in str(result.problem)


def test_a_head_that_names_another_hash_is_found(chain: Engine) -> None:
    with behind_the_triggers(chain) as connection:
        connection.exec_driver_sql(f"UPDATE audit_chain_head SET hash = '{'a' * 64}'")

    result = verify_everywhere(chain)

    assert result == VerifyResult(
        False, 12, 12, "the chain head does not match the hash of entry 12"
    )


def test_a_missing_head_is_reported(chain: Engine) -> None:
    with behind_the_triggers(chain) as connection:
        connection.exec_driver_sql("DELETE FROM audit_chain_head")

    result = verify_everywhere(chain)

    assert (result.ok, result.checked, result.first_bad_seq) == (False, 12, None)
    assert "head row is missing" in str(result.problem)


def test_progress_is_reported(chain: Engine) -> None:
    seen: list[tuple[int, int]] = []

    result = audit.verify(
        chain, progress=lambda done, total: seen.append((done, total))
    )

    assert result.ok
    assert seen[-1] == (12, 12)


@pytest.mark.postgres
def test_the_server_side_cursor_path_finds_the_same_problem(chain: Engine) -> None:
    # The path taken when libpq is too old to stream in chunks.
    with behind_the_triggers(chain) as connection:
        connection.exec_driver_sql(
            "UPDATE audit_entries SET action = 'x' WHERE seq = 8"
        )

    with chain.begin() as connection:
        raw = connection.connection.driver_connection
        columns = f"seq, prev_hash, hash, {payload_sql('postgresql')}"
        segment = Segment()
        walk_rows(segment, postgres_rows(raw, columns, 0, 12, chunked=False))

    assert (segment.first_seq, segment.count, segment.bad_seq) == (1, 7, 8)


def test_the_migration_downgrades_and_upgrades_again(chain: Engine) -> None:
    config = migrations.alembic_config(chain.url.render_as_string(hide_password=False))
    update = "UPDATE audit_entries SET reason = 'edited' WHERE seq = 2"

    command.downgrade(config, "0001")
    with chain.begin() as connection:
        edited = connection.exec_driver_sql(update).rowcount
    command.upgrade(config, "head")

    assert edited == 1
    with pytest.raises(sa.exc.DBAPIError), chain.begin() as connection:
        connection.exec_driver_sql(update)
    assert audit.verify(chain).first_bad_seq == 2
