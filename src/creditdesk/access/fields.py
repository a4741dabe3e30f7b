"""Field-level security: which role may see or change which field.

Every governed field of an entity has a level per role: ``hidden`` (absent
from everything the role is shown), ``read`` or ``edit``. Built-in defaults
apply unless a row of ``field_permissions`` overrides them for one (role,
entity, field).

Overrides are cached per process (see :mod:`creditdesk.access.field_cache`).
A change made through :func:`set_level` or :func:`reset_level` clears this
process's copy when its transaction commits; other processes see it within
``CREDITDESK_FIELD_CACHE_SECONDS`` (default 5 s).
"""

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy import event
from sqlalchemy.orm import Session

from creditdesk.access import field_cache
from creditdesk.access.models import FieldLevel, FieldPermission
from creditdesk.actors import Actor
from creditdesk.audit import service as audit
from creditdesk.audit.schemas import AuditEntryOut
from creditdesk.errors import BadRequest, FieldIssue, Forbidden, ValidationFailed
from creditdesk.users.models import Role, User

log = structlog.get_logger(__name__)

CREDIT = "credit"

# The governed fields of each entity. Identifiers, status and times are never
# hidden: without them a record could not be referred to at all.
FIELDS: dict[str, tuple[str, ...]] = {
    CREDIT: (
        "amount",
        "justification",
        "type",
        "reason",
        "product",
        "invoice_ref",
        "external_ref",
        "last_error",
    ),
}

# Other names the same value goes by: a response key or an audit change key.
ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    CREDIT: {"amount": ("amount", "amount_minor")},
}

_RAISERS = (Role.AGENT, Role.TEAM_LEAD, Role.MANAGER)
_READERS = (Role.FINANCE, Role.AUDITOR, Role.ADMIN)

# The built-in level of every (role, entity, field) not overridden.
DEFAULTS: dict[tuple[Role, str], dict[str, FieldLevel]] = {
    **{(r, CREDIT): dict.fromkeys(FIELDS[CREDIT], FieldLevel.EDIT) for r in _RAISERS},
    **{(r, CREDIT): dict.fromkeys(FIELDS[CREDIT], FieldLevel.READ) for r in _READERS},
    (Role.JUNIOR_AGENT, CREDIT): {
        **dict.fromkeys(FIELDS[CREDIT], FieldLevel.READ),
        "amount": FieldLevel.HIDDEN,
        "justification": FieldLevel.HIDDEN,
    },
}

# A formatted amount as the policy and people write it: "GBP 987.65".
_MONEY_TEXT = re.compile(r"\b[A-Z]{3} -?\d[\d,]*(?:\.\d+)?(?: \(minor units\))?")
WITHHELD = "[amount withheld]"


@dataclass(frozen=True, slots=True)
class FieldView:
    """What one role may do with each governed field of one entity."""

    role: Role
    entity: str
    levels: Mapping[str, FieldLevel]

    @property
    def hidden(self) -> frozenset[str]:
        return frozenset(
            f for f, lvl in self.levels.items() if lvl is FieldLevel.HIDDEN
        )

    def can_read(self, field: str) -> bool:
        return self.levels.get(field, FieldLevel.READ) is not FieldLevel.HIDDEN

    def can_edit(self, field: str) -> bool:
        return self.levels.get(field) is FieldLevel.EDIT

    def hidden_keys(self) -> frozenset[str]:
        """Every key a hidden field appears under (``amount_minor`` too)."""
        aliases = ALIASES.get(self.entity, {})
        return frozenset(
            key for field in self.hidden for key in aliases.get(field, (field,))
        )

    def mask_changes(self, changes: Mapping[str, object]) -> dict[str, object]:
        """Audit changes without the old and new values of hidden fields."""
        hidden = self.hidden_keys()
        return {key: value for key, value in changes.items() if key not in hidden}

    def mask_text(self, text: str | None) -> str | None:
        """Free text (an audit reason) with formatted amounts withheld when the
        amount is hidden; policy reasons quote them as ``GBP 987.65``."""
        if text is None or self.can_read("amount"):
            return text
        return _MONEY_TEXT.sub(WITHHELD, text)

    def entry_json(self, entry: AuditEntryOut) -> dict[str, Any]:
        """An audit entry of this entity as the role may see it."""
        return _entry_json(entry, self if self.hidden else None, bool(self.hidden))


def view_for(session: Session, user: User, entity: str = CREDIT) -> FieldView:
    """The caller's field levels for ``entity``; cheap (cached overrides)."""
    return FieldView(user.role, entity, _levels(session, user.role, entity))


def audit_masker(
    session: Session, user: User
) -> Callable[[AuditEntryOut], dict[str, Any]]:
    """Renders audit entries of any entity as ``user`` may see them."""
    views = {entity: view_for(session, user, entity) for entity in FIELDS}
    masks = any(view.hidden for view in views.values())

    def render(entry: AuditEntryOut) -> dict[str, Any]:
        view = views.get(entry.entity_type)
        return _entry_json(entry, view if view and view.hidden else None, masks)

    return render


def _entry_json(
    entry: AuditEntryOut, view: FieldView | None, withhold_hashes: bool
) -> dict[str, Any]:
    data = entry.model_dump(mode="json")
    if view is not None:
        data["changes"] = view.mask_changes(data["changes"])
        data["reason"] = view.mask_text(data["reason"])
    if withhold_hashes:
        # A hash covers the hidden values: knowing the rest of an entry, a
        # small one such as an amount could be found by hashing each
        # candidate. The next entry's prev_hash is the same hash, so a caller
        # with anything hidden gets neither (nor could they verify the chain).
        del data["hash"], data["prev_hash"]
    return data


def _levels(session: Session, role: Role, entity: str) -> dict[str, FieldLevel]:
    levels = dict(DEFAULTS.get((role, entity), {}))
    for (r, e, field), level in field_cache.cache.overrides(session).items():
        if r == role.value and e == entity and field in FIELDS[entity]:
            levels[field] = level
    return levels


def require_edit(view: FieldView, fields: Iterable[str]) -> None:
    """Forbidden unless the role may edit every one of ``fields``."""
    missing = [field for field in fields if not view.can_edit(field)]
    if missing:
        log.warning(
            "access.field_denied",
            role=view.role.value,
            entity=view.entity,
            fields=missing,
        )
        issues = [
            FieldIssue(f, f"the {view.role.value} role may not set {f}")
            for f in missing
        ]
        raise Forbidden(
            f"the {view.role.value} role may not set {', '.join(missing)}", issues
        )


def require_readable(view: FieldView, field: str, *, parameter: str) -> None:
    """A 400 naming ``parameter`` when it refers to a field hidden from the
    caller: filtering or sorting on a value would reveal it."""
    if not view.can_read(field):
        raise BadRequest(
            f"{parameter} refers to {field}, which the {view.role.value} role "
            "may not see",
            [FieldIssue(parameter, f"{field} is not visible to you")],
        )


# --- The effective matrix and its administration -------------------------


@dataclass(frozen=True, slots=True)
class FieldRule:
    role: Role
    entity: str
    field: str
    level: FieldLevel
    default: FieldLevel
    overridden: bool


def matrix(session: Session) -> list[FieldRule]:
    """Every (role, entity, field) with its effective and built-in level."""
    overrides = field_cache.cache.overrides(session, fresh=True)
    rules = []
    for role in Role:
        for entity, fields in FIELDS.items():
            for field in fields:
                default = default_level(role, entity, field)
                level = overrides.get((role.value, entity, field))
                rules.append(
                    FieldRule(
                        role,
                        entity,
                        field,
                        level or default,
                        default,
                        level is not None,
                    )
                )
    return rules


def default_level(role: Role, entity: str, field: str) -> FieldLevel:
    return DEFAULTS.get((role, entity), {}).get(field, FieldLevel.READ)


def check_target(role: str, entity: str, field: str) -> Role:
    """The role, once ``role``, ``entity`` and ``field`` are known names."""
    try:
        parsed = Role(role)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise ValidationFailed.on(
            "role", f"the role must be one of {choices}"
        ) from None
    if entity not in FIELDS:
        known = ", ".join(sorted(FIELDS))
        raise ValidationFailed.on("entity", f"unknown entity; use one of {known}")
    if field not in FIELDS[entity]:
        known = ", ".join(FIELDS[entity])
        raise ValidationFailed.on(
            "field", f"unknown {entity} field; use one of {known}"
        )
    return parsed


def set_level(
    session: Session,
    *,
    role: str,
    entity: str,
    field: str,
    level: FieldLevel,
    actor: Actor,
    now: datetime,
) -> FieldRule:
    """Override the built-in level of one (role, entity, field)."""
    parsed = check_target(role, entity, field)
    row = _row(session, role, entity, field)
    old = row.level if row else None
    if row is None:
        row = FieldPermission(role=role, entity=entity, field=field, level=level)
        session.add(row)
    row.level = level
    row.updated_at = now
    session.flush()

    _audit(session, parsed, entity, field, (old, level), actor=actor, now=now)
    default = default_level(parsed, entity, field)
    return FieldRule(parsed, entity, field, level, default, True)


def reset_level(
    session: Session, *, role: str, entity: str, field: str, actor: Actor, now: datetime
) -> FieldRule:
    """Drop the override, so the built-in level applies again."""
    parsed = check_target(role, entity, field)
    default = default_level(parsed, entity, field)
    row = _row(session, role, entity, field)
    if row is not None:
        old = row.level
        session.delete(row)
        session.flush()
        _audit(session, parsed, entity, field, (old, None), actor=actor, now=now)
    return FieldRule(parsed, entity, field, default, default, False)


def _row(
    session: Session, role: str, entity: str, field: str
) -> FieldPermission | None:
    return session.scalars(
        sa.select(FieldPermission).where(
            FieldPermission.role == role,
            FieldPermission.entity == entity,
            FieldPermission.field == field,
        )
    ).one_or_none()


def _audit(
    session: Session,
    role: Role,
    entity: str,
    field: str,
    change: tuple[FieldLevel | None, FieldLevel | None],
    *,
    actor: Actor,
    now: datetime,
) -> None:
    audit.record(
        session,
        actor=actor,
        action="field_permission.set" if change[1] else "field_permission.reset",
        entity_type="field_permission",
        entity_id=f"{role.value}/{entity}/{field}",
        changes={"level": change},
        now=now,
    )
    log.info(
        "field_permission.changed",
        role=role.value,
        entity=entity,
        field=field,
        level=change[1].value if change[1] else None,
    )
    # Only once the change is committed may this process forget what it knew;
    # clearing earlier could cache the old rows again until the next expiry.
    if not session.info.get(_CLEAR_ON_COMMIT):
        session.info[_CLEAR_ON_COMMIT] = True
        event.listen(session, "after_commit", _clear_after_commit, once=True)


_CLEAR_ON_COMMIT = "creditdesk.fields.clear_on_commit"


def _clear_after_commit(session: Session) -> None:
    session.info.pop(_CLEAR_ON_COMMIT, None)
    field_cache.cache.clear()
