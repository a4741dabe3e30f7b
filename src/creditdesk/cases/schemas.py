from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from creditdesk.api.text import FreeText
from creditdesk.cases.models import CaseStatus, CaseType


class CaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: int
    subject: FreeText = Field(min_length=1, max_length=200)
    type: CaseType
    product: str | None = Field(default=None, max_length=100)
    description: FreeText | None = Field(default=None, max_length=10_000)
    invoice_ref: str | None = Field(default=None, max_length=100)
    disputed_amount: str | None = Field(
        default=None, description='In the account currency, e.g. "10.00"'
    )


class CaseOut(BaseModel):
    id: int
    number: str
    account_id: int
    subject: str
    description: str | None
    type: CaseType
    product: str | None
    invoice_ref: str | None
    disputed_amount: str | None
    currency: str
    status: CaseStatus
    owner_id: int
    team_id: int | None
    opened_at: datetime
    resolved_at: datetime | None
