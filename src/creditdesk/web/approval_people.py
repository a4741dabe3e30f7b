"""Who the approvals pages offer in their choosers: the people an item may be
reassigned to, and the people one may delegate to while away.

The lists are short on purpose (the credit's or the user's team, the
reporting line above, and finance); the services still judge the choice,
so a name offered here is never a promise the duties would let it through.
"""

import sqlalchemy as sa
from sqlalchemy.orm import Session

from creditdesk.approvals import assign
from creditdesk.approvals.assign import DECIDING_ROLES
from creditdesk.approvals.models import ApprovalStep, WorkItem
from creditdesk.credits.models import BillingCredit
from creditdesk.users.models import Role, User

# The reporting line is followed this far up, as a guard against cycles.
_MAX_LEVELS = 6
_MAX_CHOICES = 50


def reassign_choices(
    session: Session, item: WorkItem, credit: BillingCredit, step: ApprovalStep
) -> list[tuple[str, str]]:
    """``(user id, "Name (role)")`` for the people who may decide ``step``
    of ``credit`` and do not already hold ``item``."""
    requester = session.get(User, credit.requested_by_id)
    people = _deciders(session, credit.team_id, requester, with_finance=True)
    return [
        _choice(person)
        for person in people
        if person.id != item.assignee_id
        and assign.may_decide(session, person, credit, step) is None
    ]


def delegate_choices(session: Session, user: User) -> list[tuple[str, str]]:
    """``(user id, "Name (role)")`` for the approvers ``user`` may hand their
    work to while away: their team, the line above them and, for finance,
    the rest of finance."""
    with_finance = user.role is Role.FINANCE
    people = _deciders(session, user.team_id, user, with_finance=with_finance)
    return [_choice(person) for person in people if person.id != user.id]


def _deciders(
    session: Session, team_id: int | None, below: User | None, *, with_finance: bool
) -> list[User]:
    active = sa.and_(User.is_active.is_(True), User.role.in_(list(DECIDING_ROLES)))
    groups = []
    if team_id is not None:
        groups.append(User.team_id == team_id)
    if with_finance:
        groups.append(User.role == Role.FINANCE)
    found: dict[int, User] = {}
    if groups:
        query = (
            sa.select(User)
            .where(active, sa.or_(*groups))
            .order_by(User.display_name, User.id)
            .limit(_MAX_CHOICES)
        )
        found = {person.id: person for person in session.scalars(query)}
    for person in _line_above(session, below):
        if person.is_active and person.role in DECIDING_ROLES:
            found.setdefault(person.id, person)
    return sorted(found.values(), key=lambda p: (p.display_name, p.id))


def _line_above(session: Session, user: User | None) -> list[User]:
    line = []
    current = user
    for _ in range(_MAX_LEVELS):
        if current is None or current.manager_id is None:
            break
        current = session.get(User, current.manager_id)
        if current is not None:
            line.append(current)
    return line


def _choice(person: User) -> tuple[str, str]:
    role = person.role.value.replace("_", " ")
    return str(person.id), f"{person.display_name} ({role})"
