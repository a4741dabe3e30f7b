"""The whole-batch check finds tampering by itself, across batch edges.

verify() reads a batch row by row only when its summary fails, and that
walk decides; so a summary that wrongly passed would hide tampering. Each
test here uses batches of 5 over the 12-entry ``chain`` fixture, so entries
5 and 6 sit on either side of a batch edge, and asks the summary check
itself which batch is bad.
"""

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from creditdesk.audit import service as audit
from creditdesk.audit.batches import Batch, read_batches
from creditdesk.audit.chain import encode_entry, entry_hash
from creditdesk.audit.scan import Segment, check_batches, scan_range
from creditdesk.audit.verify import VerifyResult
from tests.audit.support import BACKEND, behind_the_triggers

SIZE = 5


def first_failed_batch(engine: Engine) -> Batch | None:
    """The first batch of SIZE whose summary fails, or None if all pass."""
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        batches = read_batches(engine.dialect.name, raw, 0, 12, SIZE)
        try:
            return check_batches(Segment(), batches, lambda _count: None)
        finally:
            batches.close()
            raw.rollback()


def verify_in_small_batches(engine: Engine) -> Segment:
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        segment = scan_range(
            engine.dialect.name, raw, 0, 12, lambda _count: None, size=SIZE
        )
        raw.rollback()
        return segment


def test_an_intact_chain_passes_on_summaries_alone(chain: Engine) -> None:
    assert first_failed_batch(chain) is None

    segment = verify_in_small_batches(chain)

    assert (segment.count, segment.last_seq, segment.bad_seq) == (12, 12, None)


def _hash_of(connection: Connection, seq: int) -> str:
    query = f"SELECT hash FROM audit_entries WHERE seq = {seq}"
    return connection.exec_driver_sql(query).scalar_one()


def split_hash_across_neighbours(connection: Connection) -> None:
    # Joined without separators the two columns would read the same.
    five, six = _hash_of(connection, 5), _hash_of(connection, 6)
    if BACKEND == "postgresql":
        connection.exec_driver_sql(
            "ALTER TABLE audit_entries ALTER COLUMN hash TYPE varchar(65)"
        )
    connection.exec_driver_sql(
        f"UPDATE audit_entries SET hash = '{five[:-1]}' WHERE seq = 5"
    )
    connection.exec_driver_sql(
        f"UPDATE audit_entries SET hash = '{five[-1]}{six}' WHERE seq = 6"
    )


def upper_case_last_hash(connection: Connection) -> None:
    # The same digest in other letters: equal as bytes, not as stored text.
    connection.exec_driver_sql(
        "UPDATE audit_entries SET hash = upper(hash) WHERE seq = 12"
    )
    connection.exec_driver_sql("UPDATE audit_chain_head SET hash = upper(hash)")


def record_separator_in_a_field(connection: Connection) -> None:
    separator = "chr(30)" if BACKEND == "postgresql" else "char(30)"
    connection.exec_driver_sql(
        f"UPDATE audit_entries SET reason = 'a' || {separator} || 'b' WHERE seq = 5"
    )


@pytest.mark.parametrize(
    ("tamper", "bad_seq"),
    [
        ("UPDATE audit_entries SET action = 'credit.voided' WHERE seq = 5", 5),
        ("UPDATE audit_entries SET changes = '{}' WHERE seq = 6", 6),
        (f"UPDATE audit_entries SET prev_hash = '{'f' * 64}' WHERE seq = 6", 6),
        ("DELETE FROM audit_entries WHERE seq = 6", 6),
        ("DELETE FROM audit_entries WHERE seq = 5", 5),
        (split_hash_across_neighbours, 5),
        (upper_case_last_hash, 12),
        (record_separator_in_a_field, 5),
    ],
)
def test_the_summary_check_finds_tampering_itself(
    chain: Engine, tamper: object, bad_seq: int
) -> None:
    with behind_the_triggers(chain) as connection:
        if callable(tamper):
            tamper(connection)
        else:
            connection.exec_driver_sql(str(tamper))

    failed = first_failed_batch(chain)
    segment = verify_in_small_batches(chain)

    assert failed is not None and failed.lo < bad_seq <= failed.hi
    assert segment.bad_seq == bad_seq
    assert audit.verify(chain, workers=1).first_bad_seq == bad_seq


def test_entries_swapped_across_a_batch_edge_are_found(chain: Engine) -> None:
    with behind_the_triggers(chain) as connection:
        connection.exec_driver_sql("UPDATE audit_entries SET seq = -5 WHERE seq = 5")
        connection.exec_driver_sql("UPDATE audit_entries SET seq = 5 WHERE seq = 6")
        connection.exec_driver_sql("UPDATE audit_entries SET seq = 6 WHERE seq = -5")

    failed = first_failed_batch(chain)

    assert failed is not None and (failed.lo, failed.hi) == (0, 5)
    assert verify_in_small_batches(chain).bad_seq == 5


def forged_entry(seq: int, prev_hash: str) -> dict[str, object]:
    fields = {
        "seq": seq,
        "occurred_at": "2026-03-01 09:06:30.000000",
        "actor_id": None,
        "actor_name": "mallory",
        "channel": "api",
        "entity_type": "credit",
        "entity_id": "6",
        "action": "credit.approved",
        "changes": "{}",
        "reason": None,
    }
    return {
        **fields,
        "prev_hash": prev_hash,
        "hash": entry_hash(encode_entry(prev_hash=prev_hash, **fields)),
    }  # type: ignore[arg-type]


def insert_in_the_middle(connection: Connection) -> None:
    """A well-formed entry 7 chained onto 6, the later ones moved up one."""
    for seq in range(12, 6, -1):
        connection.exec_driver_sql(
            f"UPDATE audit_entries SET seq = {seq + 1} WHERE seq = {seq}"
        )
    row = forged_entry(7, _hash_of(connection, 6))
    table = sa.table("audit_entries", *(sa.column(name) for name in row))
    values = {**row}
    if BACKEND == "postgresql":
        values["occurred_at"] = f"{row['occurred_at']}+00"
    connection.execute(sa.insert(table).values(values))
    head = _hash_of(connection, 13)
    connection.exec_driver_sql(f"UPDATE audit_chain_head SET seq = 13, hash = '{head}'")


def test_an_entry_inserted_in_the_middle_is_found(chain: Engine) -> None:
    with behind_the_triggers(chain) as connection:
        insert_in_the_middle(connection)

    result = audit.verify(chain, workers=1)

    assert first_failed_batch(chain) is not None
    assert result == VerifyResult(
        False,
        7,
        8,
        "entry 8 does not follow entry 7: its prev_hash differs "
        "(an entry was removed, inserted or reordered)",
    )


@pytest.mark.postgres
def test_a_null_where_the_schema_forbade_it_is_found(chain: Engine) -> None:
    # concat_ws() would skip the NULL and let the neighbour's text stand in.
    with behind_the_triggers(chain) as connection:
        connection.exec_driver_sql(
            "ALTER TABLE audit_entries ALTER COLUMN channel DROP NOT NULL"
        )
        connection.exec_driver_sql(
            "UPDATE audit_entries SET actor_name = actor_name || chr(31) || channel,"
            " channel = NULL WHERE seq = 6"
        )

    assert first_failed_batch(chain) is not None
    result = audit.verify(chain)
    assert (result.ok, result.first_bad_seq) == (False, 6)
    assert "was altered" in str(result.problem)


def batches_of(engine: Engine) -> Iterator[Batch]:
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        yield from read_batches(engine.dialect.name, raw, 0, 12, SIZE)
        raw.rollback()


def test_batches_cover_the_range_edge_to_edge(chain: Engine) -> None:
    edges = [(batch.lo, batch.hi, batch.entries) for batch in batches_of(chain)]

    assert edges == [(0, 5, 5), (5, 10, 5), (10, 12, 2)]
