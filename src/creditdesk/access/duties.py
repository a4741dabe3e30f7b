"""Segregation of duties that holds across features.

The rules about deciding approvals live with the approvals
(``approvals.service.check_may_decide``); this module holds what every write
path shares.
"""

import structlog

from creditdesk.errors import Forbidden
from creditdesk.users.models import Role, User

log = structlog.get_logger(__name__)


def require_writer(user: User, action: str) -> None:
    """Auditors review; they change nothing, whatever else they may see."""
    if user.role is Role.AUDITOR:
        log.warning("access.denied", user_id=user.id, rule="read_only", action=action)
        raise Forbidden(f"auditors are read-only and may not {action}")
