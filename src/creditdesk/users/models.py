from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from creditdesk.db import Base, BigId, UTCDateTime, str_enum, utcnow_column


class Role(StrEnum):
    JUNIOR_AGENT = "junior_agent"
    AGENT = "agent"
    TEAM_LEAD = "team_lead"
    MANAGER = "manager"
    FINANCE = "finance"
    AUDITOR = "auditor"
    ADMIN = "admin"


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    # Business hours, time zone and holidays for approval deadlines (see
    # approvals.calendar); None means the default calendar.
    calendar: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = utcnow_column()


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str | None] = mapped_column(sa.String(320))
    role: Mapped[Role] = mapped_column(str_enum(Role, "user_role"))
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id"), index=True)
    manager_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id"), index=True
    )
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Repeated failed sign-ins slow down and then lock the account a while.
    failed_sign_ins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = utcnow_column()
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    team: Mapped[Team | None] = relationship(lazy="joined")
    manager: Mapped["User | None"] = relationship(remote_side=[id], lazy="select")
