"""Who a decision's approval steps name, in words for the agent.

The preview says who will be asked before anything is written: the policy's
step labels (``manager``, ``queue:finance``, ``user:NAME``) turned into
people's names. It names the approver the policy points at; out-of-office
delegation and the duties may still hand the work to someone else when the
credit is raised (approvals.assign decides that, and the credit page shows
who actually holds it).
"""

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session

from creditdesk.approvals.assign import manager_at
from creditdesk.policy.chains import Approver, ApproverKind, parse_approver
from creditdesk.users.models import User
from creditdesk.web.render import label


# TODO(web-preview): the preview names the policy's approver, not who
# approvals.assign would pick after duties and out-of-office delegation; a
# read-only dry run of assign.targets for a credit not yet written would fix it.
def describe_steps(session: Session, requester: User, steps: list[str]) -> list[str]:
    """One phrase per step: ``Tara Lindqvist (your team lead)``, ``the
    finance team``."""
    return [_describe(session, requester, step) for step in steps]


def _describe(session: Session, requester: User, step: str) -> str:
    try:
        approver = Approver.model_validate(parse_approver(step))
    except ValidationError:
        return step
    if approver.kind is ApproverKind.MANAGER:
        manager = manager_at(session, requester, approver.level)
        if manager is None:
            return "a manager (none is set for you; the manager queue decides)"
        return f"{manager.display_name} ({label(manager.role).lower()})"
    if approver.kind is ApproverKind.QUEUE:
        return f"the {label(approver.role).lower()} team"
    names = session.scalars(
        sa.select(User.display_name).where(User.username.in_(approver.users))
    ).all()
    return ", ".join(names) or step
