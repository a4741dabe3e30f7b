"""The administration API, for the admin role only: users, teams and their
calendars, field permissions. Every change is audited."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from creditdesk.admin import service
from creditdesk.admin.schemas import (
    FieldLevelIn,
    FieldMatrixOut,
    FieldRuleOut,
    TeamCalendarOut,
    TeamIn,
    TeamOut,
    UserCreate,
    UserOut,
    UserPatch,
)
from creditdesk.api.deps import CurrentActor, CurrentUser, DbSession, Now, ReadSession
from creditdesk.api.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Page,
    decode_cursor,
    next_cursor,
)
from creditdesk.approvals.calendar import CalendarIn
from creditdesk.users.models import Role, Team

router = APIRouter(prefix="/admin", tags=["admin"])

_FORBIDDEN = {403: {"description": "The caller is not an administrator"}}


@router.get("/users", responses=_FORBIDDEN)
def list_users(
    session: ReadSession,
    user: CurrentUser,
    role: Role | None = None,
    is_active: bool | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[UserOut]:
    """Users, newest first. Pass `next_cursor` back as `cursor` for more."""
    found = service.list_users(
        session,
        admin=user,
        role=role,
        is_active=is_active,
        before_id=decode_cursor(cursor),
        limit=limit,
    )
    return Page[UserOut](
        items=[UserOut.of(u) for u in found],
        next_cursor=next_cursor([u.id for u in found], limit),
    )


@router.get("/users/{user_id}", responses=_FORBIDDEN)
def get_user(user_id: int, session: ReadSession, user: CurrentUser) -> UserOut:
    """One user."""
    return UserOut.of(service.get_user(session, admin=user, user_id=user_id))


@router.post("/users", status_code=status.HTTP_201_CREATED, responses=_FORBIDDEN)
def create_user(
    body: UserCreate,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
) -> UserOut:
    """Create a user in `team` (created if missing) reporting to `manager`."""
    created = service.create_user(
        session,
        admin=user,
        username=body.username,
        display_name=body.display_name,
        email=body.email,
        role=body.role,
        team=body.team,
        manager=body.manager,
        actor=actor,
        now=now,
    )
    return UserOut.of(created)


@router.patch("/users/{user_id}", responses=_FORBIDDEN)
def update_user(
    user_id: int,
    body: UserPatch,
    request: Request,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
) -> UserOut:
    """Change a user's name, e-mail, role, team, manager or activity.

    A change of role, team, manager or activity takes effect on the user's
    next request: this process forgets its cached sign-ins once the change
    commits (other processes within `CREDITDESK_AUTH_CACHE_SECONDS`).
    """
    updated, _ = service.update_user(
        session,
        admin=user,
        user_id=user_id,
        changes=body.given(),
        actor=actor,
        now=now,
        token_cache=request.app.state.token_cache,
    )
    return UserOut.of(updated)


@router.get("/teams", responses=_FORBIDDEN)
def list_teams(session: ReadSession, user: CurrentUser) -> list[TeamOut]:
    """Every team, by name."""
    return [TeamOut.of(t) for t in service.list_teams(session, admin=user)]


@router.post("/teams", status_code=status.HTTP_201_CREATED, responses=_FORBIDDEN)
def create_team(
    body: TeamIn, session: DbSession, user: CurrentUser, actor: CurrentActor, now: Now
) -> TeamOut:
    """Create a team; 409 when the name is taken."""
    team = service.create_team(
        session, admin=user, name=body.name, actor=actor, now=now
    )
    return TeamOut.of(team)


@router.patch("/teams/{team_id}", responses=_FORBIDDEN)
def rename_team(
    team_id: int,
    body: TeamIn,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
) -> TeamOut:
    """Rename a team; 409 when another team has the name."""
    team = service.rename_team(
        session, admin=user, team_id=team_id, name=body.name, actor=actor, now=now
    )
    return TeamOut.of(team)


def _calendar_out(team: Team) -> TeamCalendarOut:
    return TeamCalendarOut.of(team, service.calendar_config(team))


@router.get("/teams/{team_id}/calendar", responses=_FORBIDDEN)
def get_team_calendar(
    team_id: int, session: ReadSession, user: CurrentUser
) -> TeamCalendarOut:
    """The business calendar the team's approval deadlines are counted in:
    its own, or the default (Monday to Friday, 09:00-17:00 Europe/London)."""
    team = service.team_calendar(session, admin=user, team_id=team_id)
    return _calendar_out(team)


@router.put("/teams/{team_id}/calendar", responses=_FORBIDDEN)
def set_team_calendar(
    team_id: int,
    body: CalendarIn,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
) -> TeamCalendarOut:
    """Set the team's time zone, weekly hours and holidays. Work assigned
    from now on is due by this calendar; work already assigned keeps its
    due time. 422 names the field at fault, e.g. `week.mon`."""
    team = service.set_team_calendar(
        session, admin=user, team_id=team_id, calendar=body, actor=actor, now=now
    )
    return _calendar_out(team)


@router.delete("/teams/{team_id}/calendar", responses=_FORBIDDEN)
def reset_team_calendar(
    team_id: int,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
) -> TeamCalendarOut:
    """Put the team back on the default calendar; answers the calendar now
    in force."""
    team = service.set_team_calendar(
        session, admin=user, team_id=team_id, calendar=None, actor=actor, now=now
    )
    return _calendar_out(team)


@router.get("/field-permissions", responses=_FORBIDDEN)
def field_matrix(session: ReadSession, user: CurrentUser) -> FieldMatrixOut:
    """The effective level of every role on every governed field, with the
    built-in default and whether an override is in force."""
    rules = service.field_matrix(session, admin=user)
    return FieldMatrixOut(rules=[FieldRuleOut.of(r) for r in rules])


@router.put("/field-permissions/{role}/{entity}/{field}", responses=_FORBIDDEN)
def set_field_level(
    role: str,
    entity: str,
    field: str,
    body: FieldLevelIn,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
) -> FieldRuleOut:
    """Override one role's level (`hidden`, `read`, `edit`) on one field.

    Takes effect in this process at once, in others within
    `CREDITDESK_FIELD_CACHE_SECONDS`.
    """
    rule = service.set_field_level(
        session,
        admin=user,
        role=role,
        entity=entity,
        field=field,
        level=body.level,
        actor=actor,
        now=now,
    )
    return FieldRuleOut.of(rule)


@router.delete("/field-permissions/{role}/{entity}/{field}", responses=_FORBIDDEN)
def reset_field_level(
    role: str,
    entity: str,
    field: str,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
) -> FieldRuleOut:
    """Drop the override so the built-in level applies again; answers the
    level now in force."""
    rule = service.reset_field_level(
        session, admin=user, role=role, entity=entity, field=field, actor=actor, now=now
    )
    return FieldRuleOut.of(rule)
