"""Is this callback really from the billing system it claims to be from?

``webhook``, ``sap`` and ``salesforce`` sign as creditdesk signs what it
sends: ``X-Creditdesk-Timestamp`` and ``X-Creditdesk-Signature: v1=<hex>``,
HMAC-SHA256 of ``"{timestamp}.{raw body}"`` with the system's secret (the
integration middleware in front of SAP and Salesforce sends it so). Zuora
callouts cannot compute an HMAC, so they carry the secret: as the password
of basic auth, or in a custom header.
"""

import base64
import binascii
import hmac
from datetime import datetime

import structlog
from starlette.datastructures import Headers

from creditdesk.errors import NotAuthenticated, NotFound
from creditdesk.inbox.settings import InboxSettings
from creditdesk.integrations import signing

log = structlog.get_logger(__name__)

SYSTEMS = ("webhook", "zuora", "sap", "salesforce")


def check(
    system: str,
    *,
    headers: Headers,
    body: bytes,
    now: datetime,
    settings: InboxSettings,
) -> None:
    """Refuse a callback that is not verified: 404 for a system that may not
    call back (unknown or without a secret), 401 for bad credentials."""
    secret = settings.secret_for(system) if system in SYSTEMS else None
    if secret is None:
        raise NotFound(f"no callback endpoint for {system!r}")
    if system == "zuora":
        verified = _zuora(headers, secret, settings)
    else:
        verified = signing.verify_signature(
            secret,
            headers.get(signing.TIMESTAMP_HEADER, ""),
            body,
            headers.get(signing.SIGNATURE_HEADER, ""),
            now,
            tolerance=settings.tolerance_seconds,
        )
    if not verified:
        log.warning("inbox.unverified", system=system)
        raise NotAuthenticated(f"the {system} callback is not signed as agreed")


def _zuora(headers: Headers, secret: str, settings: InboxSettings) -> bool:
    token = headers.get(settings.zuora_token_header)
    if token is not None:
        return hmac.compare_digest(token.encode(), secret.encode())
    scheme, _, encoded = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    user, _, password = decoded.partition(b":")
    # Both compared, so a wrong user takes as long as a wrong password.
    user_ok = hmac.compare_digest(user, settings.zuora_username.encode())
    password_ok = hmac.compare_digest(password, secret.encode())
    return user_ok and password_ok
