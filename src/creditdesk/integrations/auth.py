"""Credentials for vendor APIs: OAuth 2 client credentials with a cached,
refreshed token, and HTTP basic auth.

The token is fetched through the vendor's own ``VendorClient``, so fetching
it has the same timeouts and retries as any other call.
"""

import base64
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pydantic import SecretStr

from creditdesk.integrations.http import VendorClient, field_of, json_body

# A token is renewed this long before the vendor says it expires, so a
# request never leaves with a token that dies on the way.
_EARLY_SECONDS = 60.0


@dataclass
class ClientCredentials:
    """OAuth 2 client-credentials grant (RFC 6749 section 4.4)."""

    token_path: str
    client_id: str
    client_secret: SecretStr
    extra: Mapping[str, str] = field(default_factory=dict)
    monotonic: Callable[[], float] = time.monotonic
    _token: str | None = field(default=None, init=False, repr=False)
    _expires: float = field(default=0.0, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def headers(self, client: VendorClient) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._current(client)}"}

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def _current(self, client: VendorClient) -> str:
        with self._lock:
            if self._token is None or self.monotonic() >= self._expires:
                self._token, lifetime = self._fetch(client)
                self._expires = self.monotonic() + max(lifetime - _EARLY_SECONDS, 0)
            return self._token

    def _fetch(self, client: VendorClient) -> tuple[str, float]:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret.get_secret_value(),
            **self.extra,
        }
        response = client.request(
            "POST",
            self.token_path,
            data=form,
            retry_safe=True,
            authenticated=False,
        )
        body = json_body(response, client.vendor)
        token = field_of(body, "access_token", vendor=client.vendor)
        lifetime = body.get("expires_in", 3600) if isinstance(body, dict) else 3600
        return str(token), float(lifetime)


@dataclass
class BasicAuth:
    """HTTP basic authentication (RFC 7617)."""

    username: str
    password: SecretStr

    def headers(self, client: VendorClient) -> dict[str, str]:
        pair = f"{self.username}:{self.password.get_secret_value()}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}

    def invalidate(self) -> None:
        # Nothing cached: a refused password stays refused.
        return
