"""Users and teams on pages: find, create and change users; list and create
teams. The same schemas and services as the admin API, audited on channel
web."""

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from creditdesk.admin import service
from creditdesk.admin.schemas import TeamIn, UserCreate, UserPatch
from creditdesk.api.deps import DbSession, Now, ReadSession
from creditdesk.errors import Conflict, DomainError, FieldIssue
from creditdesk.users.models import Role, Team, User
from creditdesk.web.admin_forms import optional, parse, values_of
from creditdesk.web.deps import Form, WebActor
from creditdesk.web.forms import field_errors
from creditdesk.web.render import flash, label, secure
from creditdesk.web.routes.admin import AdminUser, render_admin

router = APIRouter(include_in_schema=False)

# TODO(admin-pages): renaming a team, a team's business calendar and setting
# a user's password are not on pages yet (the admin API and `creditdesk users
# passwd` do them); pages over admin.service.rename_team / set_team_calendar
# and auth.passwords.set_password (with a one-time reset link) would add them.

PAGE_SIZE = 50
ROLES = [(role.value, label(role)) for role in Role]
_STATUSES = {"active": True, "inactive": False, "all": None}
_EDIT_FIELDS = frozenset({"display_name", "email", "role", "team", "manager"})
_NEW_FIELDS = _EDIT_FIELDS | {"username"}
_APPROVER_ROLES = (Role.TEAM_LEAD, Role.MANAGER, Role.ADMIN)


@router.get("/admin/users")
def list_users(
    request: Request,
    session: ReadSession,
    user: AdminUser,
    q: str = "",
    role: str = "",
    status: str = "active",
    before: int | None = None,
) -> Response:
    """Users newest first, found by username, name or e-mail, role and status."""
    role_filter = Role(role) if role in {r.value for r in Role} else None
    status = status if status in _STATUSES else "active"
    found = service.list_users(
        session,
        admin=user,
        role=role_filter,
        is_active=_STATUSES[status],
        before_id=before,
        search=q.strip() or None,
        limit=PAGE_SIZE,
    )
    return render_admin(
        request,
        "admin/users.html",
        found=found,
        q=q,
        role=role_filter.value if role_filter else "",
        status=status,
        roles=ROLES,
        more=found[-1].id if len(found) == PAGE_SIZE else None,
    )


@router.get("/admin/users/new")
def new_user_form(request: Request, session: ReadSession, user: AdminUser) -> Response:
    """The form to add a user."""
    values = dict.fromkeys(_NEW_FIELDS, "") | {"role": Role.AGENT.value}
    return _user_form(request, session, values, {})


@router.post("/admin/users/new")
def create_user(
    request: Request,
    form: Form,
    session: DbSession,
    user: AdminUser,
    actor: WebActor,
    now: Now,
) -> Response:
    """Add the user; the form comes back with the errors next to the fields."""
    values = values_of(form, _NEW_FIELDS)
    try:
        body = parse(UserCreate, {k: optional(v) for k, v in values.items()})
        created = service.create_user(
            session, admin=user, actor=actor, now=now, **body.model_dump()
        )
    except DomainError as exc:
        session.rollback()
        errors = field_errors(_filed_under(exc, "username"), known=_NEW_FIELDS)
        return _user_form(request, session, values, errors, status=exc.status)
    response = secure(RedirectResponse(f"/admin/users/{created.id}", 303))
    return flash(request, response, f"User {created.username} added.")


@router.get("/admin/users/{user_id:int}")
def edit_user_form(
    user_id: int, request: Request, session: ReadSession, user: AdminUser
) -> Response:
    """One user and the form to change them."""
    target = service.get_user(session, admin=user, user_id=user_id)
    return _edit_form(request, session, target, _current(target), {})


@router.post("/admin/users/{user_id:int}")
def update_user(
    user_id: int,
    request: Request,
    form: Form,
    session: DbSession,
    user: AdminUser,
    actor: WebActor,
    now: Now,
) -> Response:
    """Change the user's name, e-mail, role, team, manager and activity."""
    values = values_of(form, _EDIT_FIELDS)
    changes: dict[str, object] = {name: optional(values[name]) for name in values}
    # An unticked checkbox is not sent at all.
    changes["is_active"] = "is_active" in form
    values["is_active"] = "on" if changes["is_active"] else ""
    try:
        body = parse(UserPatch, changes)
        updated, changed = service.update_user(
            session,
            admin=user,
            user_id=user_id,
            changes=body.given(),
            actor=actor,
            now=now,
            token_cache=request.app.state.token_cache,
        )
    except DomainError as exc:
        session.rollback()
        target = service.get_user(session, admin=user, user_id=user_id)
        errors = field_errors(exc, known=_EDIT_FIELDS | {"is_active"})
        return _edit_form(request, session, target, values, errors, status=exc.status)
    response = secure(RedirectResponse(f"/admin/users/{updated.id}", 303))
    message = f"User {updated.username} saved." if changed else "Nothing changed."
    return flash(request, response, message)


@router.get("/admin/teams")
def list_teams(request: Request, session: ReadSession, user: AdminUser) -> Response:
    """Every team with how many active members it has, and the form to add one."""
    return _teams_page(request, session, user, name="", errors={})


@router.post("/admin/teams")
def create_team(
    request: Request,
    form: Form,
    session: DbSession,
    user: AdminUser,
    actor: WebActor,
    now: Now,
) -> Response:
    """Add a team; a name already taken is refused next to the field."""
    name = form.get("name", "").strip()
    try:
        body = parse(TeamIn, {"name": name})
        team = service.create_team(
            session, admin=user, name=body.name, actor=actor, now=now
        )
    except DomainError as exc:
        session.rollback()
        errors = field_errors(_filed_under(exc, "name"), known=frozenset({"name"}))
        return _teams_page(
            request, session, user, name=name, errors=errors, status=exc.status
        )
    response = secure(RedirectResponse("/admin/teams", 303))
    return flash(request, response, f"Team {team.name} added.")


def _filed_under(error: DomainError, name: str) -> DomainError:
    """A conflict (a username or team name taken) names no field: file it
    under the form's field ``name`` so the message sits next to it."""
    if isinstance(error, Conflict) and not error.issues:
        return Conflict(error.detail, [FieldIssue(name, error.detail)])
    return error


def _current(target: User) -> dict[str, str]:
    return {
        "display_name": target.display_name,
        "email": target.email or "",
        "role": target.role.value,
        "team": target.team.name if target.team else "",
        "manager": target.manager.username if target.manager else "",
        "is_active": "on" if target.is_active else "",
    }


def _choices(session: Session) -> dict[str, list[str]]:
    """Team names and likely managers' usernames, offered as the fields type."""
    teams = list(session.scalars(sa.select(Team.name).order_by(Team.name)))
    managers = list(
        session.scalars(
            sa.select(User.username)
            .where(User.is_active.is_(True), User.role.in_(_APPROVER_ROLES))
            .order_by(User.username)
            .limit(500)
        )
    )
    return {"team_names": teams, "manager_names": managers}


def _user_form(
    request: Request,
    session: Session,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    status: int = 200,
) -> Response:
    return render_admin(
        request,
        "admin/user_new.html",
        status_code=status,
        values=values,
        errors=errors,
        roles=ROLES,
        **_choices(session),
    )


def _edit_form(
    request: Request,
    session: Session,
    target: User,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    status: int = 200,
) -> Response:
    return render_admin(
        request,
        "admin/user_edit.html",
        status_code=status,
        target=target,
        values=values,
        errors=errors,
        roles=ROLES,
        **_choices(session),
    )


def _teams_page(
    request: Request,
    session: Session,
    user: User,
    *,
    name: str,
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    counted = session.execute(
        sa.select(User.team_id, sa.func.count())
        .where(User.is_active.is_(True), User.team_id.is_not(None))
        .group_by(User.team_id)
    )
    members = dict(list(counted))
    return render_admin(
        request,
        "admin/teams.html",
        status_code=status,
        teams=service.list_teams(session, admin=user),
        members=members,
        name=name,
        errors=errors,
    )
