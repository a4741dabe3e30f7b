"""What the administration API takes and returns."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from creditdesk.access.fields import FieldRule
from creditdesk.access.models import FieldLevel
from creditdesk.users.models import Role, Team
from creditdesk.users.schemas import USERNAME_PATTERN, UserCreate, UserOut

__all__ = [
    "FieldLevelIn",
    "FieldMatrixOut",
    "FieldRuleOut",
    "TeamCalendarOut",
    "TeamIn",
    "TeamOut",
    "UserCreate",
    "UserOut",
    "UserPatch",
]


class UserPatch(BaseModel):
    """The fields to change; a field left out stays as it is. ``team`` (a
    team name, created if missing) and ``manager`` (a username) may be null
    to remove them."""

    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    role: Role | None = None
    team: str | None = Field(default=None, min_length=1, max_length=100)
    manager: str | None = Field(default=None, pattern=USERNAME_PATTERN)
    is_active: bool | None = None

    def given(self) -> dict[str, object]:
        """Only the fields the caller sent, with their values (None included)."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class TeamIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)


class TeamOut(BaseModel):
    id: int
    name: str
    created_at: datetime

    @classmethod
    def of(cls, team: Team) -> "TeamOut":
        return cls(id=team.id, name=team.name, created_at=team.created_at)


class TeamCalendarOut(BaseModel):
    """The business calendar a team's approval deadlines are counted in."""

    team_id: int
    is_default: bool = Field(
        description="True while the team has no calendar of its own"
    )
    # The stored form (closed days left out), not CalendarIn's own dump
    # with a null for each of them.
    calendar: dict[str, Any] = Field(
        description="The calendar in force, in the form PUT takes (CalendarIn)"
    )

    @classmethod
    def of(cls, team: Team, config: dict[str, Any]) -> "TeamCalendarOut":
        return cls(team_id=team.id, is_default=team.calendar is None, calendar=config)


class FieldLevelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: FieldLevel


class FieldRuleOut(BaseModel):
    """The level a role has on one field, and whether an override set it."""

    role: Role
    entity: str
    field: str
    level: FieldLevel
    default: FieldLevel
    overridden: bool

    @classmethod
    def of(cls, rule: FieldRule) -> "FieldRuleOut":
        return cls(
            role=rule.role,
            entity=rule.entity,
            field=rule.field,
            level=rule.level,
            default=rule.default,
            overridden=rule.overridden,
        )


class FieldMatrixOut(BaseModel):
    rules: list[FieldRuleOut]
