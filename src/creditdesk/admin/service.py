"""Administration use cases: users, teams, team calendars and field
permissions.

Only administrators may call these. Every change is audited in the caller's
transaction; nothing here commits. Validation is shared with
:mod:`creditdesk.users.service`, so the CLI and this API refuse the same input.
"""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from creditdesk.access import fields
from creditdesk.access.models import FieldLevel
from creditdesk.access.service import Permission, TokenCache, require
from creditdesk.actors import Actor
from creditdesk.approvals.calendar import DEFAULT_CALENDAR, CalendarIn
from creditdesk.audit import service as audit
from creditdesk.errors import Conflict, NotFound, ValidationFailed
from creditdesk.users import service as users
from creditdesk.users.models import Role, Team, User

log = structlog.get_logger(__name__)

# Changes that alter what the user may do; a cached sign-in must not outlive them.
ACCESS_FIELDS = frozenset({"role", "team", "manager", "is_active"})


def list_users(
    session: Session,
    *,
    admin: User,
    role: Role | None = None,
    is_active: bool | None = None,
    before_id: int | None = None,
    search: str | None = None,
    limit: int,
) -> list[User]:
    """Users, newest first, optionally of one role or activity, or whose
    username, name or e-mail contains ``search`` (any case)."""
    require(admin, Permission.ADMINISTER)
    query = (
        sa.select(User)
        .options(selectinload(User.manager))
        .order_by(User.id.desc())
        .limit(limit)
    )
    if role is not None:
        query = query.where(User.role == role)
    if is_active is not None:
        query = query.where(User.is_active == is_active)
    if before_id is not None:
        query = query.where(User.id < before_id)
    if search:
        # autoescape: a % or _ typed into the search box is looked for as is.
        query = query.where(
            sa.or_(
                User.username.icontains(search, autoescape=True),
                User.display_name.icontains(search, autoescape=True),
                User.email.icontains(search, autoescape=True),
            )
        )
    return list(session.scalars(query))


def get_user(session: Session, *, admin: User, user_id: int) -> User:
    require(admin, Permission.ADMINISTER)
    return _user(session, user_id)


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    return user


def create_user(
    session: Session,
    *,
    admin: User,
    username: str,
    display_name: str | None,
    email: str | None,
    role: Role,
    team: str | None,
    manager: str | None,
    actor: Actor,
    now: datetime,
) -> User:
    """Create a user; see :func:`creditdesk.users.service.create_user`."""
    require(admin, Permission.ADMINISTER)
    return users.create_user(
        session,
        username=username,
        display_name=display_name,
        email=email,
        role=role,
        team=team,
        manager=manager,
        actor=actor,
        now=now,
    )


def update_user(
    session: Session,
    *,
    admin: User,
    user_id: int,
    changes: dict[str, object],
    actor: Actor,
    now: datetime,
    token_cache: TokenCache | None = None,
) -> tuple[User, set[str]]:
    """Apply ``changes`` (the fields given) and return the user and the names
    of the fields that really changed. Refuses a reporting cycle, managing
    oneself, and an administrator demoting or deactivating themselves.

    A change of role, team, manager or activity empties ``token_cache`` once
    it commits, so the user's next request is judged as they now are."""
    require(admin, Permission.ADMINISTER)
    user = _user(session, user_id)
    before = _snapshot(user)

    if "display_name" in changes:
        user.display_name = users._display_name(
            _text(changes, "display_name"), user.username
        )
    if "email" in changes:
        user.email = users._email(_text(changes, "email"))
    if "role" in changes:
        user.role = _new_role(user, admin, changes["role"])
    if "is_active" in changes:
        user.is_active = _new_activity(user, admin, changes["is_active"])
    if "team" in changes:
        name = _text(changes, "team")
        user.team = (
            users.get_or_create_team(session, name=name, actor=actor, now=now)
            if name is not None
            else None
        )
    if "manager" in changes:
        user.manager = _new_manager(session, user, _text(changes, "manager"))

    changed = audit.diff(before, _snapshot(user))
    if changed:
        user.updated_at = now
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="user.updated",
            entity_type="user",
            entity_id=str(user.id),
            changes=changed,
            now=now,
        )
        log.info("user.updated", user_id=user.id, fields=sorted(changed))
    if token_cache is not None and changed.keys() & ACCESS_FIELDS:
        # Only after the commit: before it, a concurrent request could cache
        # the old row again.
        cache = token_cache
        event.listen(session, "after_commit", lambda _s: cache.clear(), once=True)
    return user, set(changed)


def _text(changes: dict[str, object], name: str) -> str | None:
    value = changes[name]
    if value is not None and not isinstance(value, str):
        raise ValidationFailed.on(name, f"{name} must be text")
    return value


def _snapshot(user: User) -> dict[str, object]:
    return {
        "display_name": user.display_name,
        "email": user.email,
        "role": user.role.value,
        "team": user.team.name if user.team else None,
        "manager": user.manager.username if user.manager else None,
        "is_active": user.is_active,
    }


def _new_role(user: User, admin: User, value: object) -> Role:
    if value is None:
        raise ValidationFailed.on("role", "a user must have a role")
    role = users._role(str(value))
    if user.id == admin.id and role is not Role.ADMIN:
        # Another administrator must do it, so nobody locks themselves out.
        raise ValidationFailed.on("role", "you cannot take away your own admin role")
    return role


def _new_activity(user: User, admin: User, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed.on("is_active", "is_active must be true or false")
    if user.id == admin.id and not value:
        raise ValidationFailed.on("is_active", "you cannot deactivate yourself")
    return value


def _new_manager(session: Session, user: User, username: str | None) -> User | None:
    boss = users._manager(session, username)
    if boss is None:
        return None
    if boss.id == user.id:
        raise ValidationFailed.on("manager", "a user cannot manage themselves")

    # Walk up from the new manager: reaching the user means a cycle. The
    # existing line has no cycle, so the walk ends.
    above = boss
    while above.manager_id is not None:
        if above.manager_id == user.id:
            raise ValidationFailed.on(
                "manager",
                f"{boss.username!r} reports to {user.username!r}, directly or "
                "not; that would make a reporting cycle",
            )
        above = session.get(User, above.manager_id)
        if above is None:
            break
    return boss


def list_teams(session: Session, *, admin: User) -> list[Team]:
    """Every team by name (teams are few)."""
    require(admin, Permission.ADMINISTER)
    return list(session.scalars(sa.select(Team).order_by(Team.name)))


def create_team(
    session: Session, *, admin: User, name: str, actor: Actor, now: datetime
) -> Team:
    """A new team; 409 when the name is taken."""
    require(admin, Permission.ADMINISTER)
    name = users._team_name(name)
    if users._team_named(session, name) is not None:
        raise Conflict(f"a team called {name!r} already exists")
    return users.get_or_create_team(session, name=name, actor=actor, now=now)


def rename_team(
    session: Session,
    *,
    admin: User,
    team_id: int,
    name: str,
    actor: Actor,
    now: datetime,
) -> Team:
    """Give a team a new name; 409 when another team has it."""
    require(admin, Permission.ADMINISTER)
    team = session.get(Team, team_id)
    if team is None:
        raise NotFound(f"team {team_id} does not exist")
    name = users._team_name(name)
    if name == team.name:
        return team

    old = team.name
    try:
        with session.begin_nested():
            team.name = name
    except IntegrityError:
        raise Conflict(f"a team called {name!r} already exists") from None
    audit.record(
        session,
        actor=actor,
        action="team.renamed",
        entity_type="team",
        entity_id=str(team.id),
        changes={"name": (old, name)},
        now=now,
    )
    log.info("team.renamed", team_id=team.id)
    return team


def _team(session: Session, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None:
        raise NotFound(f"team {team_id} does not exist")
    return team


def team_calendar(session: Session, *, admin: User, team_id: int) -> Team:
    """The team whose calendar is asked for; ``Team.calendar`` None means
    the default calendar applies."""
    require(admin, Permission.ADMINISTER)
    return _team(session, team_id)


def set_team_calendar(
    session: Session,
    *,
    admin: User,
    team_id: int,
    calendar: CalendarIn | None,
    actor: Actor,
    now: datetime,
) -> Team:
    """Give a team its own business calendar, or with None put it back on
    the default. Deadlines of work assigned from now on follow it; work
    already assigned keeps its due time."""
    require(admin, Permission.ADMINISTER)
    team = _team(session, team_id)
    # Stored in the calendar's own canonical form, so equal calendars are
    # equal JSON and the audit shows a change only when there is one.
    new = calendar.to_calendar().to_config() if calendar is not None else None
    old = team.calendar
    if new == old:
        return team

    team.calendar = new
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="team.calendar_set" if new is not None else "team.calendar_reset",
        entity_type="team",
        entity_id=str(team.id),
        changes={"calendar": (old, new)},
        now=now,
    )
    log.info("team.calendar_changed", team_id=team.id, default=new is None)
    return team


def calendar_config(team: Team) -> dict[str, Any]:
    """The calendar in force for ``team``, in the configuration form."""
    return team.calendar or DEFAULT_CALENDAR.to_config()


def field_matrix(session: Session, *, admin: User) -> list[fields.FieldRule]:
    require(admin, Permission.ADMINISTER)
    return fields.matrix(session)


def set_field_level(
    session: Session,
    *,
    admin: User,
    role: str,
    entity: str,
    field: str,
    level: FieldLevel,
    actor: Actor,
    now: datetime,
) -> fields.FieldRule:
    require(admin, Permission.ADMINISTER)
    return fields.set_level(
        session,
        role=role,
        entity=entity,
        field=field,
        level=level,
        actor=actor,
        now=now,
    )


def reset_field_level(
    session: Session,
    *,
    admin: User,
    role: str,
    entity: str,
    field: str,
    actor: Actor,
    now: datetime,
) -> fields.FieldRule:
    require(admin, Permission.ADMINISTER)
    return fields.reset_level(
        session, role=role, entity=entity, field=field, actor=actor, now=now
    )
