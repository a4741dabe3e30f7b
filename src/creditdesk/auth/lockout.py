"""Repeated failed sign-ins: first slow down, then lock the account a while.

One column does both jobs: ``User.locked_until`` is the time before which
the next attempt is refused without checking the password. After
``throttle_after`` failures in a row it is pushed out by a delay that
doubles with each further failure; from ``lockout_after`` failures on, by the
whole lockout period. A successful sign-in (or a new password) resets it.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from creditdesk.config import Settings
from creditdesk.errors import AccountLocked, DomainError, TooManyAttempts
from creditdesk.users.models import User

log = structlog.get_logger(__name__)

# Enough doublings to exceed any sensible lockout; keeps 2**n bounded.
_MAX_DOUBLINGS = 30


@dataclass(frozen=True, slots=True)
class Limits:
    throttle_after: int
    backoff: timedelta
    lockout_after: int
    lockout: timedelta

    @classmethod
    def of(cls, settings: Settings) -> "Limits":
        return cls(
            throttle_after=settings.sign_in_throttle_after,
            backoff=timedelta(seconds=settings.sign_in_backoff_seconds),
            lockout_after=settings.sign_in_lockout_after,
            lockout=timedelta(minutes=settings.sign_in_lockout_minutes),
        )


def refusal(user: User, *, now: datetime, limits: Limits) -> DomainError | None:
    """Why an attempt for ``user`` is refused before its password is checked,
    or None when it may go ahead."""
    if user.locked_until is None or user.locked_until <= now:
        return None
    retry_after = math.ceil((user.locked_until - now).total_seconds())
    extra = {"retry_after": retry_after}
    log.warning(
        "auth.sign_in_refused",
        user_id=user.id,
        failures=user.failed_sign_ins,
        retry_after=retry_after,
    )
    if is_locked_out(user.failed_sign_ins, limits):
        return AccountLocked(
            "too many failed sign-ins: the account is locked; "
            f"try again in {retry_after} seconds",
            extra=extra,
        )
    return TooManyAttempts(
        f"too many failed sign-ins: wait {retry_after} seconds before trying again",
        extra=extra,
    )


def is_locked_out(failures: int, limits: Limits) -> bool:
    return failures >= limits.lockout_after


def refused_until(failures: int, *, now: datetime, limits: Limits) -> datetime | None:
    """When attempts may resume after ``failures`` failures in a row."""
    if is_locked_out(failures, limits):
        return now + limits.lockout
    if failures < limits.throttle_after:
        return None
    doublings = min(failures - limits.throttle_after, _MAX_DOUBLINGS)
    return now + min(limits.backoff * 2**doublings, limits.lockout)
