"""Scopes: what a credential may be used for, on top of what the role allows.

A token carries a subset of ``read``, ``write``, ``approve`` and ``admin``;
a web session carries every scope its user's role allows (see
:func:`creditdesk.access.service.role_scopes`). Each route needs
one scope: ``read`` for GET and HEAD, ``write`` for anything else, unless a
path rule or the route itself says otherwise (see :func:`required_scope`).
A scope never grants anything by itself: the role's permissions still apply.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import structlog

from creditdesk.errors import Forbidden, ValidationFailed
from creditdesk.users.models import User

log = structlog.get_logger(__name__)

READ, WRITE, APPROVE, ADMIN = "read", "write", "approve", "admin"
ALL_SCOPES = (READ, WRITE, APPROVE, ADMIN)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# The OpenAPI extension that declares a route's scope, so it is documented
# where it is enforced.
ROUTE_KEY = "x-required-scope"
# The OpenAPI extension naming how a route without a user credential is
# authenticated instead (see :func:`vendor_authenticated`).
AUTHENTICATED_BY = "x-authenticated-by"

# Paths whose every route needs a scope beyond the method's default.
_ADMIN_PATHS = ("/api/v1/admin/",)
# Paths where reading takes the default but any change needs ``admin``.
_ADMIN_CHANGE_PATHS = ("/api/v1/policy",)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling and with which credential.

    Exactly one of ``token_id`` and ``web_session_id`` is set; ``user`` is
    detached from any session (read its columns only).
    """

    user: User
    scopes: frozenset[str]
    token_id: int | None = None
    web_session_id: int | None = None
    csrf_token: str | None = None

    @property
    def via_session(self) -> bool:
        return self.web_session_id is not None


def check_requested(requested: Iterable[str], allowed: frozenset[str]) -> list[str]:
    """The requested scopes in canonical order, or 422 naming ``scopes``."""
    wanted = set(requested)
    unknown = wanted - set(ALL_SCOPES)
    if unknown:
        raise ValidationFailed.on(
            "scopes",
            f"unknown scope {sorted(unknown)[0]!r}; choose from "
            + ", ".join(ALL_SCOPES),
        )
    if not wanted:
        raise ValidationFailed.on("scopes", "name at least one scope")
    beyond = wanted - allowed
    if beyond:
        raise ValidationFailed.on(
            "scopes",
            f"you may not grant the {sorted(beyond)[0]!r} scope: "
            "a token cannot do more than the user issuing it",
        )
    return [scope for scope in ALL_SCOPES if scope in wanted]


def needs(scope: str) -> dict[str, Any]:
    """Route decorator arguments declaring that it needs ``scope`` rather than
    its method's default: ``@router.post(path, **needs(APPROVE))``."""
    if scope not in ALL_SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    return {"openapi_extra": {ROUTE_KEY: scope}}


def vendor_authenticated() -> dict[str, Any]:
    """Route decorator arguments for a route a vendor calls: it takes no user
    credential, so no scope applies; the route verifies the vendor's
    signature itself. Documented in OpenAPI as needing no bearer token."""
    return {"openapi_extra": {"security": [], AUTHENTICATED_BY: "vendor-signature"}}


def required_scope(method: str, path: str, route: object | None) -> str:
    """The one scope a request needs: the route's own declaration, else a
    path rule, else ``read`` for safe methods and ``write`` for the rest."""
    declared = getattr(route, "openapi_extra", None)
    if declared and ROUTE_KEY in declared:
        return declared[ROUTE_KEY]
    safe = method in SAFE_METHODS
    if path.startswith(_ADMIN_PATHS):
        return ADMIN
    if not safe and path.startswith(_ADMIN_CHANGE_PATHS):
        return ADMIN
    return READ if safe else WRITE


def check_scope(principal: Principal, needed: str, *, method: str, path: str) -> None:
    """Refuse (403) a credential that lacks ``needed``."""
    if needed in principal.scopes:
        return
    log.warning(
        "access.scope_denied",
        user_id=principal.user.id,
        token_id=principal.token_id,
        scope=needed,
        held=sorted(principal.scopes),
        method=method,
        path=path,
    )
    raise Forbidden(f"this credential lacks the {needed!r} scope this request needs")
