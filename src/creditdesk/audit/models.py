from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from creditdesk.db import Base, BigId, utcnow_column


class AuditEntry(Base):
    """One change; ``hash`` covers this entry and the previous entry's hash."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        sa.Index("ix_audit_entries_entity", "entity_type", "entity_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime] = utcnow_column(index=True)
    actor_id: Mapped[int | None] = mapped_column(BigId, index=True)
    actor_name: Mapped[str] = mapped_column(sa.String(100))
    channel: Mapped[str] = mapped_column(sa.String(16))
    entity_type: Mapped[str] = mapped_column(sa.String(40))
    entity_id: Mapped[str] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(64))
    # Canonical JSON: {"field": [old, new], ...}. The hash covers the stored
    # text of every column (see creditdesk.audit.chain).
    changes: Mapped[str] = mapped_column(sa.Text)
    reason: Mapped[str | None] = mapped_column(sa.Text)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)


class AuditChainHead(Base):
    """A single row naming the last sealed entry; locking it orders appends."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    hash: Mapped[str] = mapped_column(sa.String(64))


class AuditPending(Base):
    """An entry waiting for its transaction's COMMIT, on PostgreSQL only.

    A deferred trigger (migration 0003) seals each row into the chain as the
    transaction commits and deletes it, so the table is empty outside an
    open transaction; SQLite seals in Python and never writes here. The
    columns are those of :class:`AuditEntry` that the sealer does not set.
    """

    __tablename__ = "audit_pending"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = utcnow_column()
    actor_id: Mapped[int | None] = mapped_column(BigId)
    actor_name: Mapped[str] = mapped_column(sa.String(100))
    channel: Mapped[str] = mapped_column(sa.String(16))
    entity_type: Mapped[str] = mapped_column(sa.String(40))
    entity_id: Mapped[str] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(64))
    changes: Mapped[str] = mapped_column(sa.Text)
    reason: Mapped[str | None] = mapped_column(sa.Text)
