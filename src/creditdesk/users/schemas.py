"""What a user looks like to callers outside the service layer."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from creditdesk.users.models import Role, User

USERNAME_PATTERN = r"^[a-z0-9._-]{3,64}$"


class UserCreate(BaseModel):
    """A new user; ``team`` is a team name and ``manager`` a username."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=USERNAME_PATTERN)
    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    role: Role
    team: str | None = Field(default=None, min_length=1, max_length=100)
    manager: str | None = Field(default=None, pattern=USERNAME_PATTERN)


class UserOut(BaseModel):
    """A user with the team name and the manager's username resolved."""

    id: int
    username: str
    display_name: str
    email: str | None
    role: Role
    team: str | None
    manager: str | None
    is_active: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> "UserOut":
        return cls(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            email=user.email,
            role=user.role,
            team=user.team.name if user.team else None,
            manager=user.manager.username if user.manager else None,
            is_active=user.is_active,
            created_at=user.created_at,
        )
