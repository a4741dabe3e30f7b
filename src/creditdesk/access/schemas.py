"""Shares and sharing rules as callers send and receive them."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from creditdesk.access.models import GroupKind, ShareAccess


class ShareIn(BaseModel):
    """Share the credit with one user."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"user_id": 42, "access": "read"}]},
    )

    user_id: int
    access: ShareAccess = ShareAccess.READ


class ShareOut(BaseModel):
    """A share; ``revoked_at`` is set once it has ended."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    credit_id: int
    user_id: int
    access: ShareAccess
    granted_by_id: int
    created_at: datetime
    revoked_at: datetime | None
    revoked_by_id: int | None


class SharingRuleIn(BaseModel):
    """Members of the grantee group may see (or edit) the owner group's
    credits. A team is named by its id, a role by its name."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "grantee_kind": "team",
                    "grantee": "3",
                    "owner_kind": "role",
                    "owner": "junior_agent",
                    "access": "read",
                }
            ]
        },
    )

    grantee_kind: GroupKind
    grantee: str = Field(min_length=1, max_length=100)
    owner_kind: GroupKind
    owner: str = Field(min_length=1, max_length=100)
    access: ShareAccess = ShareAccess.READ


class SharingRuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    grantee_kind: GroupKind
    grantee: str
    owner_kind: GroupKind
    owner: str
    access: ShareAccess
    created_by_id: int | None
    created_at: datetime


class SharesOut(BaseModel):
    items: list[ShareOut]


class SharingRulesOut(BaseModel):
    items: list[SharingRuleOut]
