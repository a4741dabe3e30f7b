"""Who may sign in, and who may see and change which records and fields."""

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from creditdesk.db import Base, BigId, UTCDateTime, str_enum, utcnow_column


class ShareAccess(StrEnum):
    READ = "read"
    EDIT = "edit"


class GroupKind(StrEnum):
    TEAM = "team"
    ROLE = "role"


class FieldLevel(StrEnum):
    HIDDEN = "hidden"
    READ = "read"
    EDIT = "edit"


class ApiToken(Base):
    """A bearer token; only its SHA-256 digest is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(16))
    name: Mapped[str] = mapped_column(sa.String(100), default="cli")
    scopes: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[datetime] = utcnow_column()
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebSession(Base):
    """A signed-in browser. The cookie holds a secret; only its digest is kept.

    ``csrf_secret`` is sent back in forms (it is not a credential on its own:
    it works only beside the session cookie).
    """

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    csrf_secret: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = utcnow_column()
    last_seen_at: Mapped[datetime] = utcnow_column()
    # Absolute expiry; idle expiry is last_seen_at plus the idle timeout.
    expires_at: Mapped[datetime] = utcnow_column()
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    client_ip: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(300))


class SharingRule(Base):
    """Members of one group may read or edit the credits of another group.

    A group is a team (by id) or a role (by name); a credit belongs to the
    team and role of the agent who requested it.
    """

    __tablename__ = "sharing_rules"
    __table_args__ = (
        sa.UniqueConstraint(
            "grantee_kind", "grantee", "owner_kind", "owner", name="uq_sharing_rule"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    grantee_kind: Mapped[GroupKind] = mapped_column(str_enum(GroupKind, "group_kind"))
    grantee: Mapped[str] = mapped_column(sa.String(100))
    owner_kind: Mapped[GroupKind] = mapped_column(
        str_enum(GroupKind, "owner_group_kind")
    )
    owner: Mapped[str] = mapped_column(sa.String(100))
    access: Mapped[ShareAccess] = mapped_column(str_enum(ShareAccess, "rule_access"))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = utcnow_column()


class CreditShare(Base):
    """One credit shared with one user by its owner or someone above them."""

    __tablename__ = "credit_shares"
    __table_args__ = (
        sa.Index("ix_credit_shares_user_credit", "user_id", "credit_id"),
        # At most one live share per credit and user; revoked ones stay as
        # history.
        sa.Index(
            "uq_credit_shares_live",
            "credit_id",
            "user_id",
            unique=True,
            sqlite_where=sa.text("revoked_at IS NULL"),
            postgresql_where=sa.text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    credit_id: Mapped[int] = mapped_column(sa.ForeignKey("billing_credits.id"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    access: Mapped[ShareAccess] = mapped_column(str_enum(ShareAccess, "share_access"))
    granted_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = utcnow_column()
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))


class FieldPermission(Base):
    """An override of the built-in field access of a role; see access.fields."""

    __tablename__ = "field_permissions"
    __table_args__ = (
        sa.UniqueConstraint("role", "entity", "field", name="uq_field_permission"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    role: Mapped[str] = mapped_column(sa.String(32))
    entity: Mapped[str] = mapped_column(sa.String(40))
    field: Mapped[str] = mapped_column(sa.String(64))
    level: Mapped[FieldLevel] = mapped_column(str_enum(FieldLevel, "field_level"))
    updated_at: Mapped[datetime] = utcnow_column()
