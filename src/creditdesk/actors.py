"""Who did something and through which door: recorded with every change."""

from dataclasses import dataclass
from enum import StrEnum

from creditdesk.users.models import Role


class Channel(StrEnum):
    API = "api"
    WEB = "web"
    CLI = "cli"
    WORKER = "worker"


@dataclass(frozen=True, slots=True)
class Actor:
    """The person or process behind a change.

    ``user_id`` is None for the system itself (the worker, a CLI run by an
    operator without a user account); ``name`` is always set for the audit trail.
    """

    user_id: int | None
    name: str
    channel: Channel
    role: Role | None = None

    @classmethod
    def system(cls, channel: Channel, name: str = "system") -> "Actor":
        return cls(user_id=None, name=name, channel=channel)
