"""Sharing: one credit with one user, and standing rules between groups.

A share lets one more person see a credit (``read``) or also act as its owner
(``edit``: recall it, share it). Neither ever lets anyone decide an approval:
deciding follows the approval step, not access. Revoked shares stay as
history. Sharing rules, kept by administrators, let a team or a role see the
credits of another team or role.
"""

from datetime import datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from creditdesk.access import visibility
from creditdesk.access.duties import require_writer
from creditdesk.access.models import CreditShare, GroupKind, ShareAccess, SharingRule
from creditdesk.access.service import Permission, require
from creditdesk.actors import Actor
from creditdesk.audit import service as audit
from creditdesk.credits.models import BillingCredit
from creditdesk.errors import Conflict, Forbidden, NotFound, ValidationFailed
from creditdesk.users.models import Role, Team, User

log = structlog.get_logger(__name__)


def shares_of(session: Session, *, credit_id: int, user: User) -> list[CreditShare]:
    """Every share of a credit the caller may see, live and revoked, newest
    first."""
    credit = visibility.load_credit(session, user, credit_id)
    return list(
        session.scalars(
            sa.select(CreditShare)
            .where(CreditShare.credit_id == credit.id)
            .order_by(CreditShare.id.desc())
        )
    )


def _credit_to_manage(session: Session, credit_id: int, user: User) -> BillingCredit:
    credit = visibility.load_credit(session, user, credit_id)
    require_writer(user, "share credits")
    if not visibility.may_manage_shares(session, user, credit):
        raise Forbidden(
            "only the requester, someone above them in the reporting line, or "
            "someone the credit is shared with for editing may manage its shares"
        )
    return credit


def _grantee(session: Session, user_id: int, credit: BillingCredit) -> User:
    grantee = session.get(User, user_id)
    if grantee is None or not grantee.is_active:
        raise ValidationFailed.on("user_id", f"user {user_id} does not exist")
    if grantee.id == credit.requested_by_id:
        raise ValidationFailed.on("user_id", "the requester already owns the credit")
    return grantee


def share_credit(
    session: Session,
    *,
    credit_id: int,
    user_id: int,
    access: ShareAccess,
    user: User,
    actor: Actor,
    now: datetime,
) -> CreditShare:
    """Share a credit with one more user; 409 when a live share exists."""
    credit = _credit_to_manage(session, credit_id, user)
    grantee = _grantee(session, user_id, credit)
    live = session.scalar(
        sa.select(CreditShare.id).where(
            CreditShare.credit_id == credit.id,
            CreditShare.user_id == grantee.id,
            CreditShare.revoked_at.is_(None),
        )
    )
    if live is not None:
        raise Conflict(
            f"credit {credit.number} is already shared with user {grantee.id}; "
            "revoke that share to change it",
            extra={"share_id": live},
        )

    share = CreditShare(
        credit_id=credit.id,
        user_id=grantee.id,
        access=access,
        granted_by_id=user.id,
        created_at=now,
    )
    session.add(share)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="credit.shared",
        entity_type="credit",
        entity_id=credit.id,
        changes={
            "share_id": (None, share.id),
            "shared_with_id": (None, grantee.id),
            "access": (None, access),
        },
        now=now,
    )
    log.info(
        "access.shared", credit_id=credit.id, share_id=share.id, user_id=grantee.id
    )
    return share


def revoke_share(
    session: Session,
    *,
    credit_id: int,
    share_id: int,
    user: User,
    actor: Actor,
    now: datetime,
) -> CreditShare:
    """End a share. Its grantor may, as may whoever may manage the shares."""
    credit = visibility.load_credit(session, user, credit_id)
    require_writer(user, "revoke shares")
    share = session.get(CreditShare, share_id)
    if share is None or share.credit_id != credit.id:
        raise NotFound(f"share {share_id} does not exist")
    if share.granted_by_id != user.id:
        _credit_to_manage(session, credit_id, user)
    if share.revoked_at is not None:
        raise Conflict(f"share {share_id} was already revoked")

    share.revoked_at = now
    share.revoked_by_id = user.id
    audit.record(
        session,
        actor=actor,
        action="credit.share_revoked",
        entity_type="credit",
        entity_id=credit.id,
        changes={"share_id": (share.id, None), "shared_with_id": (share.user_id, None)},
        now=now,
    )
    log.info("access.share_revoked", credit_id=credit.id, share_id=share.id)
    return share


def list_rules(session: Session, *, user: User) -> list[SharingRule]:
    """Every sharing rule, oldest first (administrators only)."""
    require(user, Permission.ADMINISTER)
    return list(session.scalars(sa.select(SharingRule).order_by(SharingRule.id)))


def _group(session: Session, field: str, kind: GroupKind, value: str) -> str:
    """The canonical group name, or 422 naming ``field``."""
    if kind is GroupKind.ROLE:
        if value not in {role.value for role in Role}:
            known = ", ".join(role.value for role in Role)
            raise ValidationFailed.on(field, f"unknown role; use one of {known}")
        return value
    team = session.get(Team, int(value)) if value.isdigit() else None
    if team is None:
        raise ValidationFailed.on(field, f"team {value} does not exist")
    return str(team.id)


def create_rule(
    session: Session,
    *,
    grantee_kind: GroupKind,
    grantee: str,
    owner_kind: GroupKind,
    owner: str,
    access: ShareAccess,
    user: User,
    actor: Actor,
    now: datetime,
) -> SharingRule:
    """Let one group see (or edit) the credits of another; 409 if it exists."""
    require(user, Permission.ADMINISTER)
    rule = SharingRule(
        grantee_kind=grantee_kind,
        grantee=_group(session, "grantee", grantee_kind, grantee),
        owner_kind=owner_kind,
        owner=_group(session, "owner", owner_kind, owner),
        access=access,
        created_by_id=user.id,
        created_at=now,
    )
    _refuse_duplicate(session, rule)
    session.add(rule)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="sharing_rule.created",
        entity_type="sharing_rule",
        entity_id=rule.id,
        changes={name: (None, value) for name, value in _rule_fields(rule).items()},
        now=now,
    )
    log.info("access.rule_created", rule_id=rule.id, **_rule_fields(rule))
    return rule


def _refuse_duplicate(session: Session, rule: SharingRule) -> None:
    existing = session.scalar(
        sa.select(SharingRule.id).where(
            SharingRule.grantee_kind == rule.grantee_kind,
            SharingRule.grantee == rule.grantee,
            SharingRule.owner_kind == rule.owner_kind,
            SharingRule.owner == rule.owner,
        )
    )
    if existing is not None:
        raise Conflict(
            f"sharing rule {existing} already joins these groups; delete it first",
            extra={"rule_id": existing},
        )


def _rule_fields(rule: SharingRule) -> dict[str, str]:
    return {
        "grantee_kind": rule.grantee_kind.value,
        "grantee": rule.grantee,
        "owner_kind": rule.owner_kind.value,
        "owner": rule.owner,
        "access": rule.access.value,
    }


def delete_rule(
    session: Session, *, rule_id: int, user: User, actor: Actor, now: datetime
) -> None:
    """Remove a sharing rule; the audit trail keeps what it was."""
    require(user, Permission.ADMINISTER)
    rule = session.get(SharingRule, rule_id)
    if rule is None:
        raise NotFound(f"sharing rule {rule_id} does not exist")

    fields = _rule_fields(rule)
    session.delete(rule)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="sharing_rule.deleted",
        entity_type="sharing_rule",
        entity_id=rule_id,
        changes={name: (value, None) for name, value in fields.items()},
        now=now,
    )
    log.info("access.rule_deleted", rule_id=rule_id)
