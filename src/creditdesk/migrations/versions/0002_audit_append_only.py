"""audit trail is append-only

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 19:45:00

The database itself refuses to change or remove an audit entry, so a bug or a
stray UPDATE cannot rewrite history; deliberate tampering behind the
triggers' back is what `creditdesk audit verify` detects. The chain head may
only move forward. The head row is seeded here so the first append has a
row to lock.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The genesis: seq 0 and, as the first entry's prev_hash, 64 zeros.
SEED_HEAD = """
INSERT INTO audit_chain_head (id, seq, hash)
SELECT 1, 0, '0000000000000000000000000000000000000000000000000000000000000000'
WHERE NOT EXISTS (SELECT 1 FROM audit_chain_head)
"""

SQLITE_TRIGGERS = {
    "audit_entries_no_update": """
        CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
        BEGIN
            SELECT RAISE(ABORT, 'audit_entries: UPDATE refused, append-only');
        END
    """,
    "audit_entries_no_delete": """
        CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
        BEGIN
            SELECT RAISE(ABORT, 'audit_entries: DELETE refused, append-only');
        END
    """,
    "audit_chain_head_no_delete": """
        CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head
        BEGIN
            SELECT RAISE(ABORT, 'audit_chain_head: DELETE refused, append-only');
        END
    """,
    "audit_chain_head_forward_only": """
        CREATE TRIGGER audit_chain_head_forward_only BEFORE UPDATE ON audit_chain_head
        WHEN NEW.seq <= OLD.seq OR NEW.id <> OLD.id
        BEGIN
            SELECT RAISE(ABORT, 'audit_chain_head: UPDATE refused, forward only');
        END
    """,
}

POSTGRES_FUNCTION = """
CREATE FUNCTION audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'audit_chain_head' THEN
        RAISE EXCEPTION 'audit_chain_head: UPDATE refused, forward only';
    END IF;
    RAISE EXCEPTION '%: % refused, append-only', TG_TABLE_NAME, TG_OP;
END
$$
"""

# (trigger name, table, timing and events, row or statement level, condition)
POSTGRES_TRIGGERS = [
    ("audit_entries_append_only", "audit_entries", "UPDATE OR DELETE", "ROW", ""),
    ("audit_entries_no_truncate", "audit_entries", "TRUNCATE", "STATEMENT", ""),
    ("audit_chain_head_no_delete", "audit_chain_head", "DELETE", "ROW", ""),
    ("audit_chain_head_no_truncate", "audit_chain_head", "TRUNCATE", "STATEMENT", ""),
    (
        "audit_chain_head_forward_only",
        "audit_chain_head",
        "UPDATE",
        "ROW",
        "WHEN (NEW.seq <= OLD.seq OR NEW.id <> OLD.id)",
    ),
]


def upgrade() -> None:
    op.execute(SEED_HEAD)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        for name, table, events, level, condition in POSTGRES_TRIGGERS:
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {events} ON {table} "
                f"FOR EACH {level} {condition} EXECUTE FUNCTION audit_refuse_change()"
            )
        return
    for statement in SQLITE_TRIGGERS.values():
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, table, *_ in POSTGRES_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS audit_refuse_change()")
        return
    for name in SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
