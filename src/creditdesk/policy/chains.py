"""Approval chains as the policy writes them: who decides each step, how, and
by when.

A step names its approver with a short reference:

``manager``
    the requester's manager; ``manager_2`` (up to ``manager_6``) is that many
    levels up the reporting line;
``queue:<role>``
    every member of an approving role (``finance`` is short for
    ``queue:finance``);
``user:<username>``
    one named user;
a list of usernames
    a group of named users.

The mode says how many must answer: ``one`` (a single approver), ``first``
(the first answer from a group or queue stands) or ``all`` (every member must
approve). Deadlines and reminders are counted in business hours of the
requesting team's calendar.
"""

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StrictInt, model_validator
from pydantic_core import PydanticCustomError

from creditdesk.policy.strict import Strict
from creditdesk.users.models import Role

# Roles whose members may decide approvals, and so may form a queue.
QUEUE_ROLES = frozenset({Role.TEAM_LEAD, Role.MANAGER, Role.FINANCE})

MAX_LEVELS = 6
MAX_GROUP = 50
# Ten working weeks: a longer deadline is a typing mistake, not a policy.
MAX_DEADLINE_HOURS = 400


class ApproverKind(StrEnum):
    MANAGER = "manager"  # ``level`` steps up from the requester
    QUEUE = "queue"  # every member of ``role``
    USER = "user"  # one named user
    GROUP = "group"  # named users
    # Only as an escalation target: the manager of whoever holds the item.
    APPROVER_MANAGER = "approver_manager"


class StepMode(StrEnum):
    ONE = "one"
    FIRST = "first"
    ALL = "all"


class OnReject(StrEnum):
    END = "end"  # the credit is rejected
    BACK = "back"  # the previous step decides again (the agent, at step 1)


def _bad(message: str) -> PydanticCustomError:
    return PydanticCustomError("approver", "{detail}", {"detail": message})


class Approver(Strict):
    """A parsed approver reference."""

    kind: ApproverKind
    level: int = 0
    role: Role | None = None
    users: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The reference as the policy writes it, e.g. ``queue:finance``."""
        if self.kind is ApproverKind.MANAGER:
            return "manager" if self.level == 1 else f"manager_{self.level}"
        if self.kind is ApproverKind.QUEUE:
            return f"queue:{self.role}"
        if self.kind is ApproverKind.USER:
            return f"user:{self.users[0]}"
        if self.kind is ApproverKind.GROUP:
            return "group:" + ",".join(self.users)
        return self.kind.value

    @property
    def is_single(self) -> bool:
        return self.kind in (
            ApproverKind.MANAGER,
            ApproverKind.USER,
            ApproverKind.APPROVER_MANAGER,
        )


def parse_approver(value: object) -> object:
    """Turn a policy reference (a string or a list of usernames) into fields."""
    if isinstance(value, Approver | dict):
        return value
    if isinstance(value, list):
        return _group(value)
    if not isinstance(value, str):
        raise _bad("name an approver such as manager, queue:finance or user:NAME")
    return _named(value.strip())


_ALIASES: dict[str, dict[str, Any]] = {
    "finance": {"kind": ApproverKind.QUEUE, "role": Role.FINANCE},
    "approver_manager": {"kind": ApproverKind.APPROVER_MANAGER},
}


def _named(text: str) -> dict[str, Any]:
    if text in _ALIASES:
        return _ALIASES[text]
    if text == "manager" or text.startswith("manager_"):
        return {"kind": ApproverKind.MANAGER, "level": _level(text)}
    prefix, _, rest = text.partition(":")
    if prefix == "queue":
        return {"kind": ApproverKind.QUEUE, "role": _queue_role(rest)}
    if prefix == "user" and rest:
        return {"kind": ApproverKind.USER, "users": (rest,)}
    raise _bad(
        f"unknown approver {text!r}: use manager, manager_2 .. manager_"
        f"{MAX_LEVELS}, queue:ROLE, finance, user:NAME or a list of usernames"
    )


def _level(text: str) -> int:
    if text == "manager":
        return 1
    suffix = text.removeprefix("manager_")
    if not suffix.isdigit() or not 2 <= int(suffix) <= MAX_LEVELS:
        raise _bad(f"{text!r}: manager levels run from manager_2 to manager_6")
    return int(suffix)


def _queue_role(name: str) -> Role:
    allowed = ", ".join(sorted(QUEUE_ROLES))
    try:
        role = Role(name)
    except ValueError:
        raise _bad(f"unknown role {name!r}; queues are {allowed}") from None
    if role not in QUEUE_ROLES:
        raise _bad(f"{name} may not decide approvals; queues are {allowed}")
    return role


def _group(names: list[Any]) -> dict[str, Any]:
    if not names or len(names) > MAX_GROUP:
        raise _bad(f"a group names between 1 and {MAX_GROUP} usernames")
    if not all(isinstance(name, str) and name.strip() for name in names):
        raise _bad("a group is a list of usernames")
    cleaned = tuple(name.strip() for name in names)
    if len(set(cleaned)) != len(cleaned):
        raise _bad("a group names a user more than once")
    return {"kind": ApproverKind.GROUP, "users": cleaned}


ApproverRef = Annotated[Approver, BeforeValidator(parse_approver)]
Hours = Annotated[StrictInt, Field(ge=0, le=MAX_DEADLINE_HOURS)]


class StepSpec(Strict):
    """One step of a chain; unset timings come from the policy's defaults."""

    approver: ApproverRef
    mode: StepMode | None = None
    deadline_hours: Hours | None = None
    remind_before_hours: Hours | None = None
    escalate_to: ApproverRef | None = None
    on_reject: OnReject = OnReject.END

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: object) -> object:
        # ``steps: [manager, finance]`` is a chain with every default.
        if isinstance(value, str | list):
            return {"approver": value}
        return value

    @model_validator(mode="after")
    def _mode_fits_approver(self) -> "StepSpec":
        if self.approver.kind is ApproverKind.APPROVER_MANAGER:
            raise _step_problem("approver_manager is only an escalation target")
        single = self.approver.is_single
        if single and self.mode not in (None, StepMode.ONE):
            raise _step_problem(f"{self.approver.label} is one person: use mode one")
        if not single and self.mode is StepMode.ONE:
            raise _step_problem("a queue or group step is decided by first or all")
        return self

    @property
    def effective_mode(self) -> StepMode:
        if self.mode is not None:
            return self.mode
        return StepMode.ONE if self.approver.is_single else StepMode.FIRST

    @property
    def label(self) -> str:
        return self.approver.label


def _step_problem(message: str) -> PydanticCustomError:
    return PydanticCustomError("policy", "{detail}", {"detail": message, "at": "mode"})


class ApprovalTimings(Strict):
    """Defaults for steps that do not set their own."""

    deadline_hours: Annotated[StrictInt, Field(ge=1, le=MAX_DEADLINE_HOURS)] = 16
    remind_before_hours: Hours = 4

    @model_validator(mode="after")
    def _reminder_before_deadline(self) -> "ApprovalTimings":
        if self.remind_before_hours >= self.deadline_hours:
            raise PydanticCustomError(
                "policy",
                "{detail}",
                {
                    "detail": "the reminder must come before the deadline",
                    "at": "remind_before_hours",
                },
            )
        return self


def step_config(step: StepSpec, timings: ApprovalTimings) -> dict[str, Any]:
    """What an approval step keeps of its policy step, with defaults filled in.

    Stored with the step as JSON, so a step in flight keeps the rules it was
    opened under when a new policy version is applied.
    """
    deadline = step.deadline_hours
    if deadline is None:
        deadline = timings.deadline_hours
    remind = step.remind_before_hours
    if remind is None:
        remind = timings.remind_before_hours
    escalate = step.escalate_to or Approver(kind=ApproverKind.APPROVER_MANAGER)
    return {
        "approver": step.approver.model_dump(mode="json"),
        "mode": step.effective_mode.value,
        "deadline_minutes": deadline * 60,
        # A reminder at or after the deadline would never be sent first.
        "remind_before_minutes": min(remind, max(deadline - 1, 0)) * 60,
        "escalate_to": escalate.model_dump(mode="json"),
        "on_reject": step.on_reject.value,
    }
