"""The policy in force, applying new versions, and judging a credit.

The highest version in ``policy_versions`` is in force. A database without one
gets the shipped default as version 1 the first time a policy is needed.
"""

import threading
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from creditdesk.accounts.models import Account
from creditdesk.actors import Actor, Channel
from creditdesk.audit import service as audit
from creditdesk.cases.models import Case
from creditdesk.clock import system_clock
from creditdesk.errors import Conflict, NotFound, ValidationFailed
from creditdesk.policy.engine import Decision, evaluate
from creditdesk.policy.facts import gather
from creditdesk.policy.models import PolicyVersion
from creditdesk.policy.schemas import (
    Policy,
    checksum,
    default_policy_text,
    parse_policy,
)
from creditdesk.users.models import User

log = structlog.get_logger(__name__)

AUDIT_ENTITY = "policy"
SYSTEM_NAME = "system"

# Parsed documents by checksum: a version never changes, and keying on the
# text rather than the number stays right across databases in one process.
_parsed: dict[str, Policy] = {}
_parsed_lock = threading.Lock()


# Asked on every credit raised: built once, run on the session's connection.
_HEAD = (
    sa.select(PolicyVersion.version, PolicyVersion.checksum)
    .order_by(PolicyVersion.version.desc())
    .limit(1)
)


@dataclass(frozen=True, slots=True)
class ActivePolicy:
    version: int
    policy: Policy


# The head as two scalar subqueries, for a caller that reads it beside rows
# of its own and passes it to active_policy() (see credits.service).
HEAD_VERSION = _HEAD.with_only_columns(PolicyVersion.version).scalar_subquery()
HEAD_CHECKSUM = _HEAD.with_only_columns(PolicyVersion.checksum).scalar_subquery()


def active_policy(
    session: Session,
    *,
    now: datetime | None = None,
    actor: Actor | None = None,
    head: tuple[int | None, str | None] | None = None,
) -> ActivePolicy:
    """The policy in force, installing the shipped default if there is none.

    ``now`` and ``actor`` only matter for that first install (its timestamp and
    audit entry); they default to the system clock and the system actor.
    ``head`` is the (version, checksum) the caller read in this transaction
    with HEAD_VERSION and HEAD_CHECKSUM, saving a query.
    """
    # Only the number and checksum: the document is read once per process.
    if head is None or head[0] is None:
        head = session.connection().execute(_HEAD).first()
    if head is None:
        row = _install_default(
            session,
            now=now or system_clock(),
            actor=actor or Actor.system(Channel.WORKER, name=SYSTEM_NAME),
        )
        return ActivePolicy(row.version, _parse_cached(row.document, row.checksum))

    version, digest = head
    policy = _parsed.get(digest)
    if policy is None:
        policy = policy_version(session, version).policy
    return ActivePolicy(version, policy)


def policy_version(session: Session, version: int) -> ActivePolicy:
    """A past or present version, to explain a decision taken under it."""
    row = version_row(session, version)
    return ActivePolicy(row.version, _parse_cached(row.document, row.checksum))


def version_row(session: Session, version: int) -> PolicyVersion:
    """The stored version (document text, author, comment); NotFound if absent."""
    row = session.scalars(
        sa.select(PolicyVersion).where(PolicyVersion.version == version)
    ).one_or_none()
    if row is None:
        raise NotFound(f"Policy version {version} does not exist")
    return row


def list_versions(session: Session, *, limit: int = 100) -> list[PolicyVersion]:
    """The newest ``limit`` versions, newest (the one in force) first."""
    return list(
        session.scalars(
            sa.select(PolicyVersion).order_by(PolicyVersion.version.desc()).limit(limit)
        )
    )


# Why a version changed is kept in the audit trail; a few paragraphs at most.
COMMENT_MAX = 2000


def apply_policy(
    session: Session,
    *,
    text: str,
    actor: Actor,
    now: datetime,
    comment: str | None = None,
) -> PolicyVersion:
    """Validate a YAML document and put it in force as the next version.

    Raises ValidationFailed naming the YAML path at fault (or the comment,
    when longer than the audit trail keeps), or Conflict when another version
    was applied at the same moment.
    """
    if comment is not None and len(comment) > COMMENT_MAX:
        raise ValidationFailed.on(
            "comment", f"a comment is at most {COMMENT_MAX} characters"
        )
    policy = check_policy(session, text)

    previous = _latest(session)
    version = previous.version + 1 if previous else 1
    row = _insert(
        session, text=text, version=version, actor=actor, now=now, comment=comment
    )
    if row is None:
        raise Conflict(
            f"Policy version {version} was applied by someone else at the same "
            "time; review it and apply again"
        )
    _remember(row.checksum, policy)

    audit.record(
        session,
        actor=actor,
        action="policy.applied",
        entity_type=AUDIT_ENTITY,
        entity_id=row.version,
        changes={
            "version": (previous.version if previous else None, row.version),
            "checksum": (previous.checksum if previous else None, row.checksum),
        },
        reason=comment,
        now=now,
    )
    log.info("policy.applied", version=row.version, actor=actor.name)
    return row


def check_policy(session: Session, text: str) -> Policy:
    """Validate a YAML document as :func:`apply_policy` would, saving nothing.

    Raises ValidationFailed naming the YAML path at fault.
    """
    policy = parse_policy(text)
    _check_named_users(session, policy)
    return policy


def _check_named_users(session: Session, policy: Policy) -> None:
    """A chain that names a user who does not exist would quietly fall back
    to the manager queue on every credit; refuse it while someone is looking."""
    named = _named_approvers(policy)
    if not named:
        return
    known = set(
        session.scalars(
            sa.select(User.username).where(
                User.username.in_(list(named)), User.is_active.is_(True)
            )
        )
    )
    for username, path in named.items():
        if username not in known:
            raise ValidationFailed.on(path, f"no active user {username!r}")


def _named_approvers(policy: Policy) -> dict[str, str]:
    """Each username a chain names, with the YAML path of its first mention."""
    named: dict[str, str] = {}
    for b, band in enumerate(policy.approval_matrix.bands):
        for s, step in enumerate(band.steps):
            at = f"approval_matrix.bands.{b}.steps.{s}"
            for field, approver in (
                ("approver", step.approver),
                ("escalate_to", step.escalate_to),
            ):
                for username in approver.users if approver else ():
                    named.setdefault(username, f"{at}.{field}")
    return named


def judge(
    session: Session,
    *,
    case: Case,
    account: Account,
    requester_role: str,
    amount_minor: int,
    currency: str,
    credit_type: str,
    reason: str,
    now: datetime,
    exclude_credit_id: int | None = None,
    active: ActivePolicy | None = None,
) -> Decision:
    """Judge a credit against ``active`` (default: the policy in force)."""
    active = active or active_policy(session, now=now)
    facts = gather(
        session,
        case=case,
        account=account,
        requester_role=requester_role,
        amount_minor=amount_minor,
        currency=currency,
        credit_type=credit_type,
        reason=reason,
        now=now,
        exclude_credit_id=exclude_credit_id,
        policy=active.policy,
    )
    decision = evaluate(active.policy, active.version, facts)

    log.info(
        "policy.judged",
        case_id=case.id,
        outcome=decision.outcome.value,
        rules=decision.rule_ids,
        policy_version=active.version,
    )
    return decision


def _latest(session: Session) -> PolicyVersion | None:
    return session.scalars(
        sa.select(PolicyVersion).order_by(PolicyVersion.version.desc()).limit(1)
    ).first()


def _install_default(session: Session, *, now: datetime, actor: Actor) -> PolicyVersion:
    text = default_policy_text()
    row = _insert(
        session,
        text=text,
        version=1,
        actor=actor,
        now=now,
        comment="Shipped default policy",
        created_by=SYSTEM_NAME,
    )
    if row is None:
        # Another process installed it first; theirs is the same document.
        latest = _latest(session)
        if latest is None:
            raise Conflict("The default policy could not be installed; try again")
        return latest

    audit.record(
        session,
        actor=actor,
        action="policy.applied",
        entity_type=AUDIT_ENTITY,
        entity_id=row.version,
        changes={"version": (None, 1), "checksum": (None, row.checksum)},
        reason="Shipped default policy installed",
        now=now,
    )
    log.info("policy.installed_default", version=1)
    return row


def _insert(
    session: Session,
    *,
    text: str,
    version: int,
    actor: Actor,
    now: datetime,
    comment: str | None,
    created_by: str | None = None,
) -> PolicyVersion | None:
    """Insert a version; None when that number was taken concurrently."""
    row = PolicyVersion(
        version=version,
        document=text,
        checksum=checksum(text),
        comment=comment,
        created_by=(created_by or actor.name)[:100],
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row


def _parse_cached(text: str, digest: str) -> Policy:
    policy = _parsed.get(digest)
    if policy is None:
        policy = parse_policy(text)
        _remember(digest, policy)
    return policy


def _remember(digest: str, policy: Policy) -> None:
    with _parsed_lock:
        _parsed[digest] = policy
