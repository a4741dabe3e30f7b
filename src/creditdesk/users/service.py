"""Teams and users: creating them and finding them by name.

Every creation is audited in the caller's transaction; nothing here commits.
"""

import re
from datetime import datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from creditdesk.actors import Actor
from creditdesk.audit import service as audit
from creditdesk.errors import Conflict, NotFound, ValidationFailed
from creditdesk.users.models import Role, Team, User

log = structlog.get_logger(__name__)

USERNAME = re.compile(r"[a-z0-9._-]{3,64}")
TEAM_NAME_MAX = 100
DISPLAY_NAME_MAX = 200
EMAIL_MAX = 320


def get_or_create_team(
    session: Session, *, name: str, actor: Actor, now: datetime
) -> Team:
    """The team called ``name``, created (and audited) if there is none yet."""
    name = _team_name(name)
    team = _team_named(session, name)
    if team is not None:
        return team

    team = Team(name=name, created_at=now)
    try:
        # A savepoint, so losing a race with a concurrent creator of the same
        # team leaves the caller's transaction usable and we take theirs.
        with session.begin_nested():
            session.add(team)
    except IntegrityError:
        existing = _team_named(session, name)
        if existing is None:
            raise
        return existing

    audit.record(
        session,
        actor=actor,
        action="team.created",
        entity_type="team",
        entity_id=str(team.id),
        changes={"name": (None, name)},
        now=now,
    )
    log.info("team.created", team_id=team.id, name=name)
    return team


def create_user(
    session: Session,
    *,
    username: str,
    display_name: str | None = None,
    email: str | None = None,
    role: Role,
    team: str | None,
    manager: str | None,
    actor: Actor,
    now: datetime,
) -> User:
    """Create a user in ``team`` (created if missing) reporting to ``manager``.

    The manager is given by username and must exist and be active. A new user
    manages nobody yet, so the reporting line cannot form a cycle here.
    """
    _check_username(username)
    display_name = _display_name(display_name, username)
    email = _email(email)
    role = _role(role)
    if _user_named(session, username) is not None:
        raise Conflict(f"a user called {username!r} already exists")

    boss = _manager(session, manager)
    team_row = (
        get_or_create_team(session, name=team, actor=actor, now=now)
        if team is not None
        else None
    )

    user = User(
        username=username,
        display_name=display_name,
        email=email,
        role=role,
        team=team_row,
        manager=boss,
        is_active=True,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError:
        raise Conflict(f"a user called {username!r} already exists") from None

    audit.record(
        session,
        actor=actor,
        action="user.created",
        entity_type="user",
        entity_id=str(user.id),
        changes={
            "username": (None, username),
            "display_name": (None, display_name),
            "email": (None, email),
            "role": (None, role.value),
            "team": (None, team_row.name if team_row else None),
            "manager": (None, boss.username if boss else None),
        },
        now=now,
    )
    log.info("user.created", user_id=user.id, username=username, role=role.value)
    return user


def get_by_username(session: Session, username: str) -> User:
    """The user called ``username`` (active or not), or NotFound."""
    user = _user_named(session, username)
    if user is None:
        raise NotFound(f"there is no user called {username!r}")
    return user


def _team_named(session: Session, name: str) -> Team | None:
    return session.scalars(sa.select(Team).where(Team.name == name)).one_or_none()


def _user_named(session: Session, username: str) -> User | None:
    return session.scalars(
        sa.select(User).where(User.username == username)
    ).one_or_none()


def _manager(session: Session, username: str | None) -> User | None:
    if username is None:
        return None
    boss = _user_named(session, username)
    if boss is None:
        raise ValidationFailed.on("manager", f"there is no user called {username!r}")
    if not boss.is_active:
        raise ValidationFailed.on("manager", f"{username!r} is deactivated")
    return boss


def _check_username(username: str) -> None:
    if not USERNAME.fullmatch(username):
        raise ValidationFailed.on(
            "username",
            "a username is 3 to 64 characters of a-z, 0-9, '.', '_' and '-'",
        )


def _team_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > TEAM_NAME_MAX:
        raise ValidationFailed.on(
            "team", f"a team name is 1 to {TEAM_NAME_MAX} characters"
        )
    return name


def _display_name(display_name: str | None, username: str) -> str:
    if display_name is None:
        return username
    display_name = display_name.strip()
    if not display_name or len(display_name) > DISPLAY_NAME_MAX:
        raise ValidationFailed.on(
            "display_name",
            f"a display name is 1 to {DISPLAY_NAME_MAX} characters",
        )
    return display_name


def _email(email: str | None) -> str | None:
    if email is None:
        return None
    email = email.strip()
    local, at, domain = email.partition("@")
    # Deliverability is the mail system's business; this only catches typos
    # such as a missing '@' or a pasted space.
    looks_valid = (
        at
        and local
        and "." in domain.strip(".")
        and "@" not in domain
        and not any(ch.isspace() for ch in email)
        and len(email) <= EMAIL_MAX
    )
    if not looks_valid:
        raise ValidationFailed.on("email", f"{email!r} is not an e-mail address")
    return email


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise ValidationFailed.on(
            "role", f"the role must be one of {choices}"
        ) from None
