"""Sharing rules and field permissions on pages, through the same services
as the admin API (``access.sharing``, ``admin.service``), audited on
channel web."""

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from creditdesk.access import sharing
from creditdesk.access.fields import FIELDS
from creditdesk.access.models import FieldLevel, GroupKind, ShareAccess, SharingRule
from creditdesk.access.schemas import SharingRuleIn
from creditdesk.admin import service
from creditdesk.admin.schemas import FieldLevelIn
from creditdesk.api.deps import DbSession, Now, ReadSession
from creditdesk.errors import DomainError, ValidationFailed
from creditdesk.users.models import Role, Team, User
from creditdesk.web.admin_forms import parse, values_of
from creditdesk.web.deps import Form, WebActor
from creditdesk.web.forms import field_errors
from creditdesk.web.render import flash, label, secure
from creditdesk.web.routes.admin import AdminUser, render_admin

router = APIRouter(include_in_schema=False)

_RULE_FIELDS = frozenset({"grantee", "owner", "access"})
_LEVEL_FIELDS = frozenset({"role", "field", "level"})
# The level form's choice that drops the override.
DEFAULT = "default"
ACCESS = [(a.value, label(a)) for a in ShareAccess]


@router.get("/admin/sharing")
def sharing_rules(request: Request, session: ReadSession, user: AdminUser) -> Response:
    """Every sharing rule, and the form to add one."""
    values = {"grantee": "", "owner": "", "access": ShareAccess.READ.value}
    return _sharing_page(request, session, user, values, {})


@router.post("/admin/sharing")
def add_rule(
    request: Request,
    form: Form,
    session: DbSession,
    user: AdminUser,
    actor: WebActor,
    now: Now,
) -> Response:
    """Let the grantee group see (or edit) the owner group's credits."""
    values = values_of(form, _RULE_FIELDS)
    try:
        grantee_kind, grantee = _group(values["grantee"], "grantee")
        owner_kind, owner = _group(values["owner"], "owner")
        body = parse(
            SharingRuleIn,
            {
                "grantee_kind": grantee_kind,
                "grantee": grantee,
                "owner_kind": owner_kind,
                "owner": owner,
                "access": values["access"],
            },
        )
        sharing.create_rule(session, user=user, actor=actor, now=now, **dict(body))
    except DomainError as exc:
        session.rollback()
        errors = field_errors(exc, known=_RULE_FIELDS)
        return _sharing_page(request, session, user, values, errors, exc.status)
    response = secure(RedirectResponse("/admin/sharing", 303))
    return flash(request, response, "Sharing rule added.")


@router.post("/admin/sharing/{rule_id:int}/remove")
def remove_rule(
    rule_id: int,
    request: Request,
    session: DbSession,
    user: AdminUser,
    actor: WebActor,
    now: Now,
) -> Response:
    """Remove a sharing rule; the audit trail keeps what it was."""
    sharing.delete_rule(session, rule_id=rule_id, user=user, actor=actor, now=now)
    response = secure(RedirectResponse("/admin/sharing", 303))
    return flash(request, response, f"Sharing rule {rule_id} removed.")


@router.get("/admin/fields")
def field_permissions(
    request: Request,
    session: ReadSession,
    user: AdminUser,
    role: str = "",
    field: str = "",
) -> Response:
    """The level of every role on every governed field; ``role`` and
    ``field`` pre-select the change form (each cell links to it)."""
    values = {"role": role, "field": field, "level": ""}
    return _fields_page(request, session, user, values, {})


@router.post("/admin/fields")
def change_level(
    request: Request,
    form: Form,
    session: DbSession,
    user: AdminUser,
    actor: WebActor,
    now: Now,
) -> Response:
    """Override one role's level on one field, or go back to the default."""
    values = values_of(form, _LEVEL_FIELDS)
    try:
        entity, _, name = values["field"].partition(".")
        target = {"role": values["role"], "entity": entity, "field": name}
        if values["level"] == DEFAULT:
            rule = service.reset_field_level(
                session, admin=user, actor=actor, now=now, **target
            )
        else:
            level = parse(FieldLevelIn, {"level": values["level"] or None}).level
            rule = service.set_field_level(
                session, admin=user, level=level, actor=actor, now=now, **target
            )
    except DomainError as exc:
        session.rollback()
        errors = field_errors(_entity_is_field(exc), known=_LEVEL_FIELDS)
        return _fields_page(request, session, user, values, errors, exc.status)
    response = secure(RedirectResponse("/admin/fields", 303))
    state = "its default, " if not rule.overridden else ""
    message = (
        f"{label(rule.role)} now has {state}{rule.level.value} on "
        f"{rule.entity} {rule.field.replace('_', ' ')}."
    )
    return flash(request, response, message)


def _group(value: str, name: str) -> tuple[str, str]:
    """``role:agent`` or ``team:3`` from the group select, as (kind, value)."""
    kind, _, group = value.partition(":")
    if kind not in {k.value for k in GroupKind} or not group:
        raise ValidationFailed.on(name, "choose a team or a role")
    return kind, group


def _entity_is_field(error: DomainError) -> DomainError:
    # The form picks entity and field together, so either is the field's fault.
    if error.issues and error.issues[0].field == "entity":
        return ValidationFailed.on("field", error.issues[0].message)
    return error


def _groups(session: Session) -> tuple[dict[str, str], list[tuple[str, list]]]:
    """Every group's display name by ``kind:value``, and the select's
    options grouped under Roles and Teams."""
    teams = list(session.execute(sa.select(Team.id, Team.name).order_by(Team.name)))
    roles = [(f"role:{r.value}", label(r)) for r in Role]
    team_options = [(f"team:{id_}", name) for id_, name in teams]
    names = {key: f"Role {text}" for key, text in roles}
    names |= {key: f"Team {text}" for key, text in team_options}
    return names, [("Roles", roles), ("Teams", team_options)]


def _sharing_page(
    request: Request,
    session: Session,
    user: User,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    rules: list[SharingRule] = sharing.list_rules(session, user=user)
    names, options = _groups(session)
    return render_admin(
        request,
        "admin/sharing.html",
        status_code=status,
        rules=rules,
        group_name=lambda kind, value: names.get(f"{kind.value}:{value}", value),
        group_options=options,
        access=ACCESS,
        values=values,
        errors=errors,
    )


def _fields_page(
    request: Request,
    session: Session,
    user: User,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    rules = service.field_matrix(session, admin=user)
    cells = {(r.role.value, f"{r.entity}.{r.field}"): r for r in rules}
    field_options = [
        (f"{entity}.{name}", f"{label(entity)} {name.replace('_', ' ')}")
        for entity, names in FIELDS.items()
        for name in names
    ]
    matrix = [
        (entity, [(f"{entity}.{name}", label(name)) for name in names])
        for entity, names in FIELDS.items()
    ]
    levels = [(lvl.value, label(lvl)) for lvl in FieldLevel]
    return render_admin(
        request,
        "admin/fields.html",
        status_code=status,
        roles=[(r.value, label(r)) for r in Role],
        field_options=field_options,
        matrix=matrix,
        cells=cells,
        overrides=[r for r in rules if r.overridden],
        level_options=[("", "Choose a level"), *levels, (DEFAULT, "Built-in default")],
        values=values,
        errors=errors,
    )
