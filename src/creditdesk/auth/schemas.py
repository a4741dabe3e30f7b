"""What signing in, sessions and API tokens look like over HTTP."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from creditdesk.access.models import ApiToken, WebSession
from creditdesk.auth.passwords import PASSWORD_MAX
from creditdesk.auth.sessions import Lifetimes
from creditdesk.users.models import User
from creditdesk.users.schemas import UserOut


class SignInIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=PASSWORD_MAX, repr=False)


class SessionOut(BaseModel):
    """The signed-in user, the token to echo in ``X-CSRF-Token`` on every
    POST, PUT, PATCH and DELETE, and when the session ends at the latest
    (``expires_at``) or after inactivity (``idle_expires_at``)."""

    user: UserOut
    csrf_token: str
    expires_at: datetime
    idle_expires_at: datetime

    @classmethod
    def of(cls, user: User, web: WebSession, lifetimes: Lifetimes) -> "SessionOut":
        return cls(
            user=UserOut.of(user),
            csrf_token=web.csrf_secret,
            expires_at=web.expires_at,
            idle_expires_at=min(web.last_seen_at + lifetimes.idle, web.expires_at),
        )


class TokenIn(BaseModel):
    """A token for yourself. ``scopes`` defaults to every scope of the
    credential you ask with; ``expires_in_days`` to the longest allowed."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] | None = Field(default=None, max_length=4)
    expires_in_days: int | None = Field(default=None, ge=1)


class TokenOut(BaseModel):
    """A token as its owner may see it: never the secret."""

    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, token: ApiToken) -> "TokenOut":
        return cls(
            id=token.id,
            name=token.name,
            prefix=token.prefix,
            scopes=list(token.scopes),
            created_at=token.created_at,
            expires_at=token.expires_at,
            revoked_at=token.revoked_at,
        )


class TokenIssuedOut(TokenOut):
    """A new token; ``token`` is the secret, shown this once and never again."""

    token: str


class TokensOut(BaseModel):
    items: list[TokenOut]
