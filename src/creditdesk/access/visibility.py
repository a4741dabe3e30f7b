"""Who may see which credits and cases, as SQL predicates, and 404 loaders.

Access is a WHERE clause, never a filter over a list in Python, so lists,
counts and cursors only ever contain visible rows. A record the caller may
not see is answered exactly as one that does not exist.

The predicate is built in two steps so the database can use its indexes: the
small sets that depend only on the viewer (the users below them in the
reporting line, the sharing rules that name their team or role) are read
first; the credit query then asks ``requested_by_id IN (...) OR id IN (shares)
OR id IN (work items) OR <rule match>``.
"""

from dataclasses import dataclass

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from creditdesk.access.models import CreditShare, GroupKind, ShareAccess, SharingRule
from creditdesk.approvals.models import WorkItem
from creditdesk.cases.models import Case
from creditdesk.credits.models import BillingCredit
from creditdesk.db import is_postgres
from creditdesk.errors import NotFound, ValidationFailed
from creditdesk.users.models import Role, User

log = structlog.get_logger(__name__)

# These roles see every credit and case: finance settles them, auditors
# review them and administrators run the system.
SEE_ALL_ROLES = frozenset({Role.FINANCE, Role.AUDITOR, Role.ADMIN})

# Past this many subordinates the ids stay in the database as a subquery
# rather than becoming bound parameters.
_INLINE_IDS_MAX = 500


def sees_everything(user: User) -> bool:
    return user.role in SEE_ALL_ROLES


def _subordinates_cte(user_id: int) -> sa.CTE:
    # UNION (not UNION ALL) drops repeats, so a cycle in manager_id ends.
    start = sa.select(User.id).where(User.id == user_id)
    tree = start.cte("line", recursive=True)
    below = sa.select(User.id).where(User.manager_id == tree.c.id)
    return tree.union(below)


def line_below(
    session: Session, user: User, *, inline_max: int = _INLINE_IDS_MAX
) -> list[int] | sa.Select:
    """The ids of ``user`` and everyone reporting to them, at any depth: a
    list when short, else a subquery (same rows, no huge parameter lists)."""
    tree = _subordinates_cte(user.id)
    ids = list(session.scalars(sa.select(tree.c.id).limit(inline_max + 1)))
    if len(ids) <= inline_max:
        return ids
    return sa.select(_subordinates_cte(user.id).c.id)


def reports_to(session: Session, user_id: int, manager_id: int) -> bool:
    """Whether ``manager_id`` is above ``user_id`` in the reporting line."""
    seen: set[int] = set()
    current = session.get(User, user_id)
    while current is not None and current.manager_id is not None:
        if current.manager_id == manager_id:
            return True
        if current.manager_id in seen:
            return False
        seen.add(current.manager_id)
        current = session.get(User, current.manager_id)
    return False


@dataclass(frozen=True, slots=True)
class _RuleGroups:
    teams: list[int]
    roles: list[str]


def _rules_for(session: Session, user: User, *, edit_only: bool = False) -> _RuleGroups:
    """The owner groups whose credits ``user`` is granted by sharing rules."""
    grantee = SharingRule.grantee_kind == GroupKind.ROLE
    grantee = sa.and_(grantee, SharingRule.grantee == user.role.value)
    if user.team_id is not None:
        grantee = sa.or_(
            grantee,
            sa.and_(
                SharingRule.grantee_kind == GroupKind.TEAM,
                SharingRule.grantee == str(user.team_id),
            ),
        )
    query = sa.select(SharingRule.owner_kind, SharingRule.owner).where(grantee)
    if edit_only:
        query = query.where(SharingRule.access == ShareAccess.EDIT)

    teams: list[int] = []
    roles: list[str] = []
    for kind, owner in session.execute(query):
        if kind == GroupKind.TEAM and owner.isdigit():
            teams.append(int(owner))
        elif kind == GroupKind.ROLE:
            roles.append(owner)
    return _RuleGroups(teams, roles)


def _rule_match(groups: _RuleGroups) -> list[ColumnElement[bool]]:
    # TODO(sharing): a credit's team is the requester's team when it was
    # raised, but its role is the requester's role now, since credits do not
    # record it; a requested_by_role column on billing_credits would fix it.
    clauses: list[ColumnElement[bool]] = []
    if groups.teams:
        clauses.append(BillingCredit.team_id.in_(groups.teams))
    if groups.roles:
        requesters = sa.select(User.id).where(User.role.in_(groups.roles))
        clauses.append(BillingCredit.requested_by_id.in_(requesters))
    return clauses


def _shared_with(user: User, *, edit_only: bool = False) -> sa.Select:
    query = sa.select(CreditShare.credit_id).where(
        CreditShare.user_id == user.id, CreditShare.revoked_at.is_(None)
    )
    if edit_only:
        query = query.where(CreditShare.access == ShareAccess.EDIT)
    return query


def _assigned_to(user: User) -> sa.Select:
    # A person sees a credit from the moment work on it is theirs (a later
    # step has no items until it is reached) and keeps seeing it after:
    # items they held, were delegated from, or decided, and items still
    # open to their queue. Each column is its own branch so each can use
    # its own index.
    columns = (
        WorkItem.assignee_id == user.id,
        WorkItem.original_assignee_id == user.id,
        WorkItem.decided_by_id == user.id,
        sa.and_(
            WorkItem.assignee_id.is_(None),
            WorkItem.queue_role == user.role.value,
        ),
    )
    return sa.union(*[sa.select(WorkItem.credit_id).where(c) for c in columns])


def credit_visible(session: Session, user: User) -> ColumnElement[bool]:
    """A WHERE clause on BillingCredit: the credits ``user`` may see."""
    if sees_everything(user):
        return sa.true()
    return _credits_of(session, user, line_below(session, user))


def _credits_of(
    session: Session, user: User, line: list[int] | sa.Select
) -> ColumnElement[bool]:
    # The owner of a case (and the line above) sees every credit raised on
    # it: a junior agent cannot raise credits but follows those on their cases.
    own_cases = sa.select(Case.id).where(Case.owner_id.in_(line))
    clauses: list[ColumnElement[bool]] = [
        BillingCredit.requested_by_id.in_(line),
        BillingCredit.case_id.in_(own_cases),
        BillingCredit.id.in_(_shared_with(user)),
        BillingCredit.id.in_(_assigned_to(user)),
    ]
    clauses += _rule_match(_rules_for(session, user))
    return sa.or_(*clauses)


def case_visible(session: Session, user: User) -> ColumnElement[bool]:
    """A WHERE clause on Case: the cases ``user`` may see.

    Besides their team's cases and those of the people below them, a user sees
    the case of every credit they may see: an approver or a grantee needs the
    complaint behind the credit to judge it.
    """
    if sees_everything(user):
        return sa.true()

    line = line_below(session, user)
    credits = sa.select(BillingCredit.case_id).where(_credits_of(session, user, line))
    clauses: list[ColumnElement[bool]] = [
        Case.owner_id.in_(line),
        Case.id.in_(credits),
    ]
    if user.team_id is not None:
        clauses.append(Case.team_id == user.team_id)
    return sa.or_(*clauses)


def load_credit(
    session: Session, user: User, credit_id: int, *, for_update: bool = False
) -> BillingCredit:
    """The credit if ``user`` may see it; NotFound otherwise, worded as for a
    credit that does not exist, so existence does not leak.

    ``for_update`` locks the row (on PostgreSQL) and reloads it, as the state
    machine needs before a change.
    """
    query = sa.select(BillingCredit).where(
        BillingCredit.id == credit_id, credit_visible(session, user)
    )
    if for_update:
        if is_postgres(session):
            query = query.with_for_update(of=BillingCredit)
        query = query.execution_options(populate_existing=True)
    credit = session.scalars(query).first()
    if credit is None:
        _denied(user, "credit", credit_id)
        raise NotFound(f"credit {credit_id} does not exist")
    return credit


def load_case(session: Session, user: User, case_id: int) -> Case:
    """The case if ``user`` may see it; NotFound worded as for a missing one."""
    case = _visible_case(session, user, case_id)
    if case is None:
        _denied(user, "case", case_id)
        raise NotFound(f"case {case_id} does not exist")
    return case


def case_for_input(session: Session, user: User, case_id: int) -> Case:
    """A case named in a request body: 422 on ``case_id`` when missing or
    invisible, the same answer for both."""
    case = _visible_case(session, user, case_id)
    if case is None:
        _denied(user, "case", case_id)
        raise ValidationFailed.on("case_id", f"case {case_id} does not exist")
    return case


def _denied(user: User, entity: str, entity_id: int) -> None:
    # The caller is told only "does not exist"; the log keeps who asked for
    # what. Telling a missing record from a hidden one would cost a query.
    log.info(
        "access.denied",
        user_id=user.id,
        role=user.role.value,
        entity=entity,
        entity_id=entity_id,
        why="missing or not visible to this user",
    )


def _visible_case(session: Session, user: User, case_id: int) -> Case | None:
    case = session.get(Case, case_id)
    if case is None:
        return None
    if _plainly_visible(session, user, case):
        return case
    # Only the grounds that need the credits table are left: the case of a
    # credit shared with, assigned to or opened by a rule for the user.
    query = sa.select(Case.id).where(Case.id == case_id, case_visible(session, user))
    return case if session.scalar(query) is not None else None


def _plainly_visible(session: Session, user: User, case: Case) -> bool:
    # The same grounds as case_visible's first branches, read off the row
    # already loaded: raising a credit asks this on every request, and the
    # full predicate costs several queries.
    if sees_everything(user):
        return True
    if user.team_id is not None and case.team_id == user.team_id:
        return True
    return case.owner_id == user.id or reports_to(session, case.owner_id, user.id)


def may_act_as_owner(session: Session, user: User, credit: BillingCredit) -> bool:
    """The requester, or someone the credit is shared with for editing (by a
    share or a sharing rule), may do what the owner does: recall, share."""
    if credit.requested_by_id == user.id:
        return True
    edit = sa.select(BillingCredit.id).where(
        BillingCredit.id == credit.id,
        sa.or_(
            BillingCredit.id.in_(_shared_with(user, edit_only=True)),
            *_rule_match(_rules_for(session, user, edit_only=True)),
        ),
    )
    return session.scalar(edit) is not None


def may_manage_shares(session: Session, user: User, credit: BillingCredit) -> bool:
    """Owners (see ``may_act_as_owner``) and everyone above the requester in
    the reporting line may share the credit and revoke its shares."""
    if reports_to(session, credit.requested_by_id, user.id):
        return True
    return may_act_as_owner(session, user, credit)
