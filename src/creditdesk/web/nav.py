"""The console's navigation: which areas each role may use.

The same permission grants as the services decide (access.service.GRANTS),
so a link is shown exactly when the page behind it would let the user in.
"""

from dataclasses import dataclass

from creditdesk.access.service import Permission, can
from creditdesk.users.models import Role, User

# Reports are for the people who manage or account for credits.
_REPORT_ROLES = frozenset(
    {Role.TEAM_LEAD, Role.MANAGER, Role.FINANCE, Role.AUDITOR, Role.ADMIN}
)


@dataclass(frozen=True, slots=True)
class Link:
    href: str
    text: str
    current: bool


def _areas(user: User) -> list[tuple[str, str]]:
    areas = [("/", "Home"), ("/cases", "Cases")]
    if can(user, Permission.DECIDE_APPROVALS):
        areas.append(("/approvals", "Approvals"))
    if can(user, Permission.OPERATE_OUTBOX):
        areas.append(("/ops", "Billing ops"))
    if can(user, Permission.VERIFY_AUDIT):
        areas.append(("/audit", "Audit"))
    if sees_reports(user):
        areas.append(("/reports", "Reports"))
    if can(user, Permission.ADMINISTER):
        areas.append(("/admin", "Admin"))
    return areas


def sees_reports(user: User) -> bool:
    """Whether the console's reports page is for ``user``'s role."""
    return user.role in _REPORT_ROLES


def links_for(user: User, path: str) -> list[Link]:
    """The links ``user`` may follow; ``current`` marks the area of ``path``."""
    links = []
    for href, text in _areas(user):
        current = path == "/" if href == "/" else path.startswith(href)
        links.append(Link(href=href, text=text, current=current))
    return links
