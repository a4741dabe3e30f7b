"""What a handler raises to tell the worker how a delivery went wrong."""

import re

from creditdesk.errors import Conflict


class TransientError(Exception):
    """Worth trying again later: a timeout, a 503, a lock held elsewhere.

    ``retry_after_seconds`` carries a receiver's Retry-After, which the backoff
    honours as a floor.
    """

    def __init__(self, message: str, *, retry_after_seconds: float | None = None):
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class PermanentError(Exception):
    """Trying again cannot help: the message goes to the dead letters at once."""


class LeaseLost(Conflict):
    """Another worker took the message over (or it was settled) meanwhile."""

    type_slug = "outbox-lease-lost"
    title = "The outbox message is no longer leased to this worker"


# Control characters a receiver may put in its error text; the audit trail
# refuses them, and they make a log line unreadable anyway.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MAX_CHARS = 2000


def describe(exc: BaseException) -> str:
    """``TypeName: message``, cleaned and cut short, as kept in last_error."""
    text = _CONTROL.sub("?", str(exc))
    described = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return described[:_MAX_CHARS]
