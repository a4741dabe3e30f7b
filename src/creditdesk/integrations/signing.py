"""Signing what creditdesk POSTs out (webhook postings, domain events), and
checking a signature on the receiving side.

The signature is HMAC-SHA256, keyed by the shared secret, over the timestamp,
a full stop and the raw body exactly as sent (``f"{timestamp}.{body}"``), in
lower-case hex: ``X-Creditdesk-Signature: v1=<hex>``. The timestamp (Unix
seconds, ``X-Creditdesk-Timestamp``) is signed with the body so that a
captured request cannot be replayed later than the receiver's tolerance.
"""

import hashlib
import hmac
from datetime import datetime

SIGNATURE_HEADER = "X-Creditdesk-Signature"
TIMESTAMP_HEADER = "X-Creditdesk-Timestamp"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


def sign(secret: str | bytes, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    return f"{SCHEME}={_digest(secret, timestamp, body)}"


def verify_signature(
    secret: str | bytes,
    timestamp: str,
    body: bytes,
    header: str,
    now: datetime,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` recently enough.

    For receivers: pass the raw body as received, before any JSON parsing.
    ``header`` may carry several comma-separated ``v1=`` signatures (while a
    secret is being rotated); one match is enough. ``now`` must be aware.
    """
    if not timestamp.isdigit():
        return False
    if abs(now.timestamp() - int(timestamp)) > tolerance:
        return False
    expected = _digest(secret, timestamp, body)
    for part in header.split(","):
        scheme, _, value = part.strip().partition("=")
        if scheme == SCHEME and hmac.compare_digest(value, expected):
            return True
    return False


def _digest(secret: str | bytes, timestamp: str, body: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    message = timestamp.encode() + b"." + body
    return hmac.new(key, message, hashlib.sha256).hexdigest()
