"""Domain errors that carry their HTTP status, rendered as RFC 9457 problems.

Services raise these; one set of handlers turns them into
``application/problem+json``. An expected business error is never a 500.
"""

from dataclasses import dataclass, field
from typing import Any, ClassVar

PROBLEM_BASE = "https://creditdesk.dev/problems/"


@dataclass(frozen=True, slots=True)
class FieldIssue:
    """One field at fault: a dotted path such as ``amount`` and why."""

    field: str
    message: str


@dataclass
class DomainError(Exception):
    detail: str
    issues: list[FieldIssue] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    status: ClassVar[int] = 400
    type_slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __str__(self) -> str:
        return self.detail

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.type_slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.issues:
            body["field"] = self.issues[0].field
            body["errors"] = [
                {"field": i.field, "message": i.message} for i in self.issues
            ]
        # Extras add to the problem; they never replace its standard members.
        body.update({k: v for k, v in self.extra.items() if k not in body})
        return body


class ValidationFailed(DomainError):
    status = 422
    type_slug = "validation-error"
    title = "The request is not valid"

    @classmethod
    def on(cls, field_name: str, message: str) -> "ValidationFailed":
        return cls(message, [FieldIssue(field_name, message)])


class NotAuthenticated(DomainError):
    status = 401
    type_slug = "not-authenticated"
    title = "Authentication required"


class Forbidden(DomainError):
    status = 403
    type_slug = "forbidden"
    title = "Not allowed"


class NotFound(DomainError):
    status = 404
    type_slug = "not-found"
    title = "Not found"


class Conflict(DomainError):
    """The record changed or is in a state that does not allow this."""

    status = 409
    type_slug = "conflict"
    title = "Conflict"


class InvalidState(Conflict):
    type_slug = "invalid-state"
    title = "Not allowed in the current state"


class IdempotencyConflict(Conflict):
    type_slug = "idempotency-in-progress"
    title = "A request with this Idempotency-Key is still being processed"


class IdempotencyMismatch(ValidationFailed):
    type_slug = "idempotency-key-reused"
    title = "Idempotency-Key reused with a different request"


class BadRequest(DomainError):
    status = 400
    type_slug = "bad-request"
    title = "Bad request"


class TooManyAttempts(DomainError):
    """Refused for now; ``extra["retry_after"]`` says in how many seconds."""

    status = 429
    type_slug = "too-many-attempts"
    title = "Too many attempts; try again later"


class AccountLocked(DomainError):
    """Locked after repeated failures; ``extra["retry_after"]`` as above."""

    status = 423
    type_slug = "account-locked"
    title = "The account is locked for a while"
