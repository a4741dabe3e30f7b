"""What each billing system's callback carries, and what we answer.

Each vendor names things its own way; every body is read into a
:class:`Callback`, the few facts the inbox acts on. Fields beyond those are
kept in the stored payload and otherwise ignored.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from creditdesk.inbox.models import InboxEvent

_Id = Field(min_length=1, max_length=200)
_Type = Field(min_length=1, max_length=100)
_Ref = Field(min_length=1, max_length=100)


@dataclass(frozen=True, slots=True)
class Callback:
    """A vendor's event, whichever vendor sent it."""

    event_id: str
    event_type: str
    external_ref: str
    applied: bool
    payload: dict[str, Any]


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def callback(self, payload: dict[str, Any]) -> Callback:
        raise NotImplementedError


class WebhookCallback(_Body):
    """``{"id": "evt_1", "type": "memo.applied", "reference": "R-1"}``;
    ``reference`` is what the receiver answered when the credit was posted."""

    id: str = _Id
    type: str = _Type
    reference: str = _Ref

    def callback(self, payload: dict[str, Any]) -> Callback:
        applied = self.type == "memo.applied"
        return Callback(self.id, self.type, self.reference, applied, payload)


class ZuoraCallout(_Body):
    """A Zuora callout notification for the credit memo applied event:
    ``{"eventId": "...", "eventType": "CreditMemoApplied",
    "creditMemoNumber": "CM00000001"}`` (``id`` is accepted for the event id)."""

    event_id: str = Field(
        min_length=1, max_length=200, validation_alias=AliasChoices("eventId", "id")
    )
    event_type: str = Field(min_length=1, max_length=100, alias="eventType")
    credit_memo_number: str = Field(
        min_length=1, max_length=100, alias="creditMemoNumber"
    )

    def callback(self, payload: dict[str, Any]) -> Callback:
        applied = self.event_type == "CreditMemoApplied"
        return Callback(
            self.event_id, self.event_type, self.credit_memo_number, applied, payload
        )


class SapCallback(_Body):
    """From the integration middleware in front of S/4HANA, once the credit
    memo request is billed: ``{"id": "...", "type": "CreditMemoRequest.Billed",
    "creditMemoRequest": "60000123"}``."""

    id: str = _Id
    type: str = _Type
    credit_memo_request: str = Field(
        min_length=1, max_length=100, alias="creditMemoRequest"
    )

    def callback(self, payload: dict[str, Any]) -> Callback:
        applied = self.type == "CreditMemoRequest.Billed"
        return Callback(self.id, self.type, self.credit_memo_request, applied, payload)


class SalesforceCallback(_Body):
    """From the integration middleware in front of Salesforce Billing, once
    the credit note is allocated: ``{"id": "...", "type":
    "CreditNote.Allocated", "creditNoteId": "a0B..."}``."""

    id: str = _Id
    type: str = _Type
    credit_note_id: str = Field(min_length=1, max_length=100, alias="creditNoteId")

    def callback(self, payload: dict[str, Any]) -> Callback:
        applied = self.type == "CreditNote.Allocated"
        return Callback(self.id, self.type, self.credit_note_id, applied, payload)


BODIES: dict[str, type[_Body]] = {
    "webhook": WebhookCallback,
    "zuora": ZuoraCallout,
    "sap": SapCallback,
    "salesforce": SalesforceCallback,
}


class InboxEventOut(BaseModel):
    """The stored event; the same answer for every delivery of it."""

    id: int
    system: str
    external_event_id: str
    event_type: str
    external_ref: str | None
    outcome: str | None
    error: str | None
    received_at: datetime
    processed_at: datetime | None

    @classmethod
    def of(cls, row: InboxEvent) -> "InboxEventOut":
        return cls(
            id=row.id,
            system=row.system,
            external_event_id=row.external_event_id,
            event_type=row.event_type,
            external_ref=row.external_ref,
            outcome=row.outcome.value if row.outcome else None,
            error=row.error,
            received_at=row.received_at,
            processed_at=row.processed_at,
        )
