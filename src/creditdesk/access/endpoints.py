"""Sharing over HTTP: a credit's shares, and the sharing rules."""

from fastapi import APIRouter, status

from creditdesk.access import sharing
from creditdesk.access.schemas import (
    ShareIn,
    ShareOut,
    SharesOut,
    SharingRuleIn,
    SharingRuleOut,
    SharingRulesOut,
)
from creditdesk.api.deps import CurrentActor, CurrentUser, DbSession, Now, ReadSession
from creditdesk.credits.endpoints import credit_id_of

router = APIRouter(tags=["sharing"])


@router.get("/credits/{credit_ref}/shares")
def list_shares(credit_ref: str, session: ReadSession, user: CurrentUser) -> SharesOut:
    """The credit's shares, live and revoked, newest first."""
    shares = sharing.shares_of(session, credit_id=credit_id_of(credit_ref), user=user)
    return SharesOut(items=[ShareOut.model_validate(s) for s in shares])


@router.post("/credits/{credit_ref}/shares", status_code=status.HTTP_201_CREATED)
def share_credit(
    credit_ref: str,
    body: ShareIn,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
) -> ShareOut:
    """Share the credit with one user. The requester, anyone above them in
    the reporting line and edit grantees may. `edit` lets the grantee recall
    and share the credit, never decide its approval. 409 when a live share
    with that user exists."""
    share = sharing.share_credit(
        session,
        credit_id=credit_id_of(credit_ref),
        user_id=body.user_id,
        access=body.access,
        user=user,
        actor=actor,
        now=now,
    )
    return ShareOut.model_validate(share)


@router.delete("/credits/{credit_ref}/shares/{share_id}")
def revoke_share(
    credit_ref: str,
    share_id: int,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
) -> ShareOut:
    """End a share; it stays in the list with `revoked_at` set."""
    share = sharing.revoke_share(
        session,
        credit_id=credit_id_of(credit_ref),
        share_id=share_id,
        user=user,
        actor=actor,
        now=now,
    )
    return ShareOut.model_validate(share)


@router.get("/admin/sharing-rules")
def list_rules(session: ReadSession, user: CurrentUser) -> SharingRulesOut:
    """Every sharing rule (administrators only)."""
    rules = sharing.list_rules(session, user=user)
    return SharingRulesOut(items=[SharingRuleOut.model_validate(r) for r in rules])


@router.post("/admin/sharing-rules", status_code=status.HTTP_201_CREATED)
def create_rule(
    body: SharingRuleIn,
    session: DbSession,
    user: CurrentUser,
    actor: CurrentActor,
    now: Now,
) -> SharingRuleOut:
    """Let members of a team or role see (or edit) the credits requested by
    another team or role (administrators only). 422 names the group that
    does not exist; 409 when the same groups are already joined."""
    rule = sharing.create_rule(
        session,
        grantee_kind=body.grantee_kind,
        grantee=body.grantee,
        owner_kind=body.owner_kind,
        owner=body.owner,
        access=body.access,
        user=user,
        actor=actor,
        now=now,
    )
    return SharingRuleOut.model_validate(rule)


@router.delete("/admin/sharing-rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_rule(
    rule_id: int, session: DbSession, user: CurrentUser, actor: CurrentActor, now: Now
) -> None:
    """Remove a sharing rule (administrators only); the audit trail keeps it."""
    sharing.delete_rule(session, rule_id=rule_id, user=user, actor=actor, now=now)
