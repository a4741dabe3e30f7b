"""What the audit endpoints return."""

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from creditdesk.audit.models import AuditEntry
from creditdesk.audit.verify import VerifyResult


class AuditEntryOut(BaseModel):
    """One sealed change; ``changes`` maps each field to ``[old, new]``."""

    seq: int
    occurred_at: datetime
    actor_id: int | None
    actor_name: str
    channel: str
    entity_type: str
    entity_id: str
    action: str
    changes: dict[str, tuple[Any, Any]]
    reason: str | None
    prev_hash: str | None = Field(
        default=None, description="Absent when any field is hidden from you."
    )
    hash: str | None = Field(
        default=None, description="Absent when any field is hidden from you."
    )

    @classmethod
    def of(cls, entry: AuditEntry) -> "AuditEntryOut":
        return cls(
            seq=entry.seq,
            occurred_at=entry.occurred_at,
            actor_id=entry.actor_id,
            actor_name=entry.actor_name,
            channel=entry.channel,
            entity_type=entry.entity_type,
            entity_id=entry.entity_id,
            action=entry.action,
            changes=json.loads(entry.changes),
            reason=entry.reason,
            prev_hash=entry.prev_hash,
            hash=entry.hash,
        )


class VerifyOut(BaseModel):
    """Whether the chain is intact and, if not, where it first breaks."""

    ok: bool
    checked: int = Field(description="entries found intact before any problem")
    first_bad_seq: int | None
    problem: str | None

    @classmethod
    def of(cls, result: VerifyResult) -> "VerifyOut":
        return cls(
            ok=result.ok,
            checked=result.checked,
            first_bad_seq=result.first_bad_seq,
            problem=result.problem,
        )
