"""Signatures on what creditdesk sends out: HMAC-SHA256 over the timestamp
and the body, so a receiver can tell our requests from forged or replayed
ones."""

import hashlib
import hmac

SCHEME = "v1"
# A receiver should refuse a request signed longer ago than this.
DEFAULT_TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value: ``v1=<hex digest>``."""
    message = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def verify(
    secret: str,
    *,
    timestamp: int,
    body: bytes,
    header: str,
    now: float,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver runs: the signature matches and is recent."""
    if abs(now - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)
