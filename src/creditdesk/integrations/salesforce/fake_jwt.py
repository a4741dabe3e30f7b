"""How the fake org checks a JWT bearer assertion, and how it refuses one.

Salesforce verifies the RS256 signature with the certificate uploaded to the
connected app, then the claims: ``iss`` is the app's consumer key, ``aud``
the login server, ``sub`` a user the app is approved for, ``exp`` not past.
Every refusal is a 400 ``{"error", "error_description"}``, worded as
Salesforce words it (an expired assertion is "expired authorization code").
"""

from typing import Any

import jwt

from creditdesk.integrations.salesforce.fake_org import Org

_CLAIMS = ("iss", "sub", "aud", "exp")
_INVALID = ("invalid_grant", "invalid assertion")


def refusal(org: Org, assertion: str) -> tuple[str, str] | None:
    """``(error, error_description)`` for a refused assertion, else None."""
    claims = _verified(org, assertion)
    if isinstance(claims, tuple):
        return claims
    if claims["iss"] != org.client_id:
        return "invalid_client_id", "client identifier invalid"
    if claims["sub"] not in org.jwt_users:
        return "invalid_grant", "user hasn't approved this consumer"
    return None


def _verified(org: Org, assertion: str) -> dict[str, Any] | tuple[str, str]:
    if org.jwt_public_key is None:
        return _INVALID
    try:
        return jwt.decode(
            assertion,
            org.jwt_public_key,
            algorithms=["RS256"],
            audience=org.jwt_audience,
            options={"require": list(_CLAIMS)},
            leeway=0,
        )
    except jwt.ExpiredSignatureError:
        return "invalid_grant", "expired authorization code"
    except jwt.InvalidAudienceError:
        return "invalid_grant", "audience is invalid"
    except jwt.PyJWTError:
        return _INVALID
