"""PostgreSQL seals audit entries while the transaction commits

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 08:40:00

Before COMMIT the application queues its entries in ``audit_pending``; a
deferred constraint trigger then chains each one onto the head, inserts it
into ``audit_entries`` and deletes the queued row, all inside the COMMIT.
The head's row lock, which orders every append, is therefore taken and held
without a single round trip to the client: a writer whose thread is slow to
come back (a busy interpreter, a congested network) no longer keeps every
other writer waiting. The encoding hashed is the one creditdesk.audit.chain
documents, written here as PostgreSQL builds it for verification.

SQLite needs nothing: there every transaction holds the database's write
lock from BEGIN IMMEDIATE, and the application seals in Python.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# creditdesk.audit.chain.payload_sql("postgresql") of creditdesk.audit.v1.
PAYLOAD = """convert_to(
    'creditdesk.audit.v1'
    || E'\\x1f' || seq
    || E'\\x1f' || prev_hash
    || E'\\x1f' || to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')
    || E'\\x1f' || COALESCE('#' || actor_id, '-')
    || E'\\x1f' || actor_name
    || E'\\x1f' || channel
    || E'\\x1f' || entity_type
    || E'\\x1f' || entity_id
    || E'\\x1f' || action
    || E'\\x1f' || changes
    || E'\\x1f' || COALESCE('#' || reason, '-'),
    'UTF8'
)"""

# Fired once per queued row. The first firing in a transaction seals every
# row the transaction queued, oldest first, under one lock and one move of
# the head; the later firings find their row gone and return at once.
SEAL_FUNCTION = f"""
CREATE FUNCTION audit_seal_pending() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    head audit_chain_head%ROWTYPE;
    entry audit_pending%ROWTYPE;
    last_seq bigint;
    last_hash text;
    sealed bigint[] := '{{}}';
BEGIN
    PERFORM 1 FROM audit_pending WHERE id = NEW.id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;

    SELECT * INTO head FROM audit_chain_head WHERE id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        -- A schema built without migration 0002's seed; two first writers
        -- agree on the genesis instead of one failing.
        INSERT INTO audit_chain_head (id, seq, hash)
        VALUES (1, 0, repeat('0', 64)) ON CONFLICT (id) DO NOTHING;
        SELECT * INTO head FROM audit_chain_head WHERE id = 1 FOR UPDATE;
    END IF;
    last_seq := head.seq;
    last_hash := head.hash;

    -- Only this transaction's rows are visible: every other writer's are
    -- uncommitted, or deleted by its own seal before it committed.
    FOR entry IN SELECT * FROM audit_pending ORDER BY id LOOP
        INSERT INTO audit_entries (
            seq, occurred_at, actor_id, actor_name, channel, entity_type,
            entity_id, action, changes, reason, prev_hash, hash
        )
        SELECT e.*, encode(sha256({PAYLOAD}), 'hex')
        FROM (
            SELECT last_seq + 1 AS seq, entry.occurred_at AS occurred_at,
                   entry.actor_id AS actor_id, entry.actor_name AS actor_name,
                   entry.channel AS channel, entry.entity_type AS entity_type,
                   entry.entity_id AS entity_id, entry.action AS action,
                   entry.changes AS changes, entry.reason AS reason,
                   last_hash AS prev_hash
        ) AS e
        RETURNING seq, hash INTO last_seq, last_hash;
        sealed := sealed || entry.id;
    END LOOP;

    DELETE FROM audit_pending WHERE id = ANY (sealed);
    UPDATE audit_chain_head SET seq = last_seq, hash = last_hash WHERE id = 1;
    RETURN NULL;
END
$$
"""  # noqa: S608 - no user input

SEAL_TRIGGER = """
CREATE CONSTRAINT TRIGGER audit_pending_seal AFTER INSERT ON audit_pending
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION audit_seal_pending()
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(SEAL_FUNCTION)
    op.execute(SEAL_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS audit_pending_seal ON audit_pending")
    op.execute("DROP FUNCTION IF EXISTS audit_seal_pending()")
