from datetime import datetime
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictStr,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from creditdesk.access.fields import FieldView
from creditdesk.api.text import FreeText
from creditdesk.approvals.models import ApprovalStep, WorkItem
from creditdesk.approvals.schemas import (
    StepOut,
    WorkItemOut,
    step_json,
    work_item_json,
)
from creditdesk.audit.models import AuditEntry
from creditdesk.audit.schemas import AuditEntryOut
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.money import MoneyError, currency_exponent, format_amount, parse_amount
from creditdesk.policy.engine import message_without_amount

JUSTIFICATION_MIN = 20
JUSTIFICATION_MAX = 4000


def check_justification(value: str) -> str:
    """A justification has 20 to 4000 characters, not counting outer spaces
    towards the minimum."""
    length = len(value.strip())
    if length < JUSTIFICATION_MIN:
        raise ValueError(
            f"justification needs at least {JUSTIFICATION_MIN} characters "
            f"(has {length})"
        )
    if len(value) > JUSTIFICATION_MAX:
        raise ValueError(
            f"justification may have at most {JUSTIFICATION_MAX} characters"
        )
    return value


class CreditIn(BaseModel):
    """A credit request. ``amount`` is a decimal string in ``currency``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "case_id": 1,
                    "amount": "10.00",
                    "currency": "GBP",
                    "type": "dispute",
                    "reason": "overcharge",
                    "justification": "Customer was billed twice for March.",
                }
            ]
        },
    )

    case_id: int
    amount: StrictStr = Field(description='Decimal string, e.g. "10.00"')
    currency: StrictStr = Field(description="ISO 4217 code, upper case")
    type: StrictStr = Field(max_length=32)
    reason: StrictStr = Field(max_length=32)
    justification: FreeText
    product: StrictStr | None = Field(default=None, max_length=100)
    invoice_ref: StrictStr | None = Field(default=None, max_length=100)

    _amount_minor: int = PrivateAttr(default=0)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        try:
            currency_exponent(value)
        except MoneyError as error:
            raise ValueError(str(error)) from None
        return value

    @field_validator("justification")
    @classmethod
    def _justification(cls, value: str) -> str:
        return check_justification(value)

    @model_validator(mode="after")
    def _amount(self) -> "CreditIn":
        try:
            minor = parse_amount(self.amount, self.currency)
        except MoneyError as error:
            raise _amount_error(str(error)) from None
        if minor <= 0:
            raise _amount_error("amount must be greater than zero")
        self._amount_minor = minor
        return self

    @property
    def amount_minor(self) -> int:
        return self._amount_minor


def _amount_error(message: str) -> Exception:
    # A model-level error would be reported against the whole body; name the
    # field so clients can point at it.
    detail = InitErrorDetails(
        type=PydanticCustomError("amount", message),
        loc=("amount",),
        input=None,
    )
    return ValidationError.from_exception_data("CreditIn", [detail])


class DecisionIn(BaseModel):
    """A decision on the pending step; ``step`` guards against deciding a later
    step than the one the approver was looking at."""

    model_config = ConfigDict(extra="forbid")

    comment: FreeText | None = Field(default=None, max_length=4000)
    step: int | None = Field(default=None, ge=1)


class CreditEditIn(BaseModel):
    """The agent's answer to a request for more information: a new amount or
    justification (either may be left out), and a note for the approvers."""

    model_config = ConfigDict(extra="forbid")

    amount: StrictStr | None = Field(default=None, description='e.g. "12.50"')
    justification: FreeText | None = None
    comment: FreeText | None = Field(default=None, max_length=4000)


class RecallIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: FreeText | None = Field(default=None, max_length=4000)


class VoidIn(BaseModel):
    """Why finance voids the credit; kept with the change in the audit trail."""

    model_config = ConfigDict(extra="forbid")

    justification: FreeText

    @field_validator("justification")
    @classmethod
    def _justification(cls, value: str) -> str:
        return check_justification(value)


class RuleOut(BaseModel):
    id: str
    message: str


class DecisionOut(BaseModel):
    outcome: str
    rules: list[RuleOut]
    policy_version: int
    steps: list[str] = []
    flags: list[str] = []


_MASKABLE = "Absent when the caller's role may not see it."


class CreditOut(BaseModel):
    """A credit. Fields the caller's role may not see are left out entirely."""

    id: int
    number: str
    case_id: int
    account_id: int
    requested_by_id: int
    team_id: int | None
    amount: str | None = Field(default=None, description=_MASKABLE)
    currency: str
    type: str | None = Field(default=None, description=_MASKABLE)
    reason: str | None = Field(default=None, description=_MASKABLE)
    justification: str | None = Field(default=None, description=_MASKABLE)
    product: str | None = Field(default=None, description=_MASKABLE)
    invoice_ref: str | None = Field(default=None, description=_MASKABLE)
    status: CreditStatus
    policy_version: int
    decision: DecisionOut = Field(
        description="Rule messages never quote amounts the caller may not see."
    )
    near_duplicate: bool
    over_cap: bool
    external_ref: str | None = Field(default=None, description=_MASKABLE)
    last_error: str | None = Field(default=None, description=_MASKABLE)
    created_at: datetime
    updated_at: datetime
    decided_at: datetime | None
    posted_at: datetime | None
    applied_at: datetime | None

    @classmethod
    def of(cls, credit: BillingCredit, view: FieldView) -> "CreditOut":
        """The credit with hidden values left unset (see ``credit_json``)."""
        show = view.can_read
        return cls(
            id=credit.id,
            number=credit.number,
            case_id=credit.case_id,
            account_id=credit.account_id,
            requested_by_id=credit.requested_by_id,
            team_id=credit.team_id,
            amount=format_amount(credit.amount_minor, credit.currency)
            if show("amount")
            else None,
            currency=credit.currency,
            type=credit.type if show("type") else None,
            reason=credit.reason if show("reason") else None,
            justification=credit.justification if show("justification") else None,
            product=credit.product if show("product") else None,
            invoice_ref=credit.invoice_ref if show("invoice_ref") else None,
            status=credit.status,
            policy_version=credit.policy_version,
            decision=_decision(credit.decision, amount_visible=show("amount")),
            near_duplicate=credit.near_duplicate,
            over_cap=credit.over_cap,
            external_ref=credit.external_ref if show("external_ref") else None,
            last_error=credit.last_error if show("last_error") else None,
            created_at=credit.created_at,
            updated_at=credit.updated_at,
            decided_at=credit.decided_at,
            posted_at=credit.posted_at,
            applied_at=credit.applied_at,
        )


def _decision(stored: dict[str, Any], *, amount_visible: bool) -> DecisionOut:
    # TODO(fields): ``steps`` still names the approval band, which brackets the
    # amount (e.g. manager + finance means 250-1000); a per-role decision view
    # that leaves out steps and the band-driven flags would close it.
    decision = DecisionOut.model_validate(stored)
    if amount_visible:
        return decision
    rules = [
        RuleOut(id=r.id, message=message_without_amount(r.id, r.message))
        for r in decision.rules
    ]
    return decision.model_copy(update={"rules": rules})


def credit_json(
    credit: BillingCredit, view: FieldView, fields: frozenset[str] | None = None
) -> dict[str, Any]:
    """The credit as the caller may see it: hidden fields are absent, not null.

    ``fields`` (a sparse fieldset) limits the keys further.
    """
    return CreditOut.of(credit, view).model_dump(
        mode="json", include=fields, exclude=view.hidden_keys()
    )


class CreditHistoryOut(BaseModel):
    credit_id: int
    number: str
    entries: list[AuditEntryOut]
    steps: list[StepOut]
    work_items: list[WorkItemOut]


class ApprovalItemOut(BaseModel):
    step: StepOut
    work_item: WorkItemOut
    credit: CreditOut


def history_json(
    credit: BillingCredit,
    entries: list[AuditEntry],
    steps: list[ApprovalStep],
    items: list[WorkItem],
    view: FieldView,
) -> dict[str, Any]:
    """A credit's history without the old and new values of hidden fields."""
    return {
        "credit_id": credit.id,
        "number": credit.number,
        "entries": [view.entry_json(AuditEntryOut.of(e)) for e in entries],
        "steps": [step_json(s, view) for s in steps],
        "work_items": [work_item_json(i, view) for i in items],
    }


def approval_item_json(
    item: WorkItem, credit: BillingCredit, view: FieldView
) -> dict[str, Any]:
    """An inbox row: the work item, its step and the credit as the caller
    may see it."""
    return {
        "step": step_json(item.step, view) if item.step is not None else None,
        "work_item": work_item_json(item, view),
        "credit": credit_json(credit, view),
    }
