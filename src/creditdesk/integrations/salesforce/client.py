"""The Salesforce REST calls creditdesk makes, on the shared vendor call path.

Signing in uses the OAuth 2.0 client credentials flow, or the JWT bearer flow
with an RS256 assertion, against the org's My Domain
(``POST /services/oauth2/token``). Its answer names the instance that
serves the org (``instance_url``); every later call goes there. Salesforce
gives no lifetime with the token: a session lives while it is used, so the
token is kept until a call answers 401 ``INVALID_SESSION_ID`` and then fetched
again once (``VendorClient`` does that for any 401).

Errors come as a list of ``{"message", "errorCode", "fields"}``. A 403 is
usually a refusal, but ``REQUEST_LIMIT_EXCEEDED`` (the org's API limits) only
means later, so 403s are read here rather than by the shared call path.
"""

import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from pydantic import SecretStr

from creditdesk.billing.adapters import BillingRejectedError, BillingTransientError
from creditdesk.integrations.auth import ClientCredentials
from creditdesk.integrations.http import (
    RetryPolicy,
    TokenSource,
    VendorClient,
    field_of,
    json_body,
    snippet,
)
from creditdesk.integrations.payloads import json_bytes
from creditdesk.integrations.salesforce.settings import SalesforceSettings

VENDOR = "salesforce"
OAUTH_PATH = "/services/oauth2/token"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Salesforce refuses an assertion whose exp is more than a few minutes ahead.
_ASSERTION_SECONDS = 180

# How long a token is trusted without being refused. Salesforce ends a session
# after a period without use, so the real lifetime is unknown; a refusal (401)
# is what renews it, and this only bounds how old a token can get.
_SESSION_SECONDS = 12 * 3600.0

# Error codes that mean "not now" rather than "no".
TRANSIENT_CODES = frozenset(
    {"REQUEST_LIMIT_EXCEEDED", "UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"}
)


class SalesforceLogin(ClientCredentials):
    """Client credentials whose answer also moves the client to its instance."""

    def _fetch(self, client: VendorClient) -> tuple[str, float]:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret.get_secret_value(),
            **self.extra,
        }
        response = client.request(
            "POST", self.token_path, data=form, retry_safe=True, authenticated=False
        )
        body = json_body(response, client.vendor)
        token = str(field_of(body, "access_token", vendor=client.vendor))
        _move_to(client, str(field_of(body, "instance_url", vendor=client.vendor)))
        return token, _SESSION_SECONDS


@dataclass
class SalesforceJwtLogin:
    """The OAuth 2.0 JWT bearer flow (RFC 7523): no secret leaves creditdesk.

    Each sign-in posts a fresh assertion, RS256-signed with the connected
    app's private key, naming the app (``iss``), the integration user
    (``sub``) and the login server (``aud``). Salesforce wants it to expire
    within a few minutes; the session it answers with is kept like the client
    credentials one, until a call is refused.
    """

    token_path: str
    client_id: str
    username: str
    audience: str
    signing_key: Callable[[], SecretStr]
    wall_clock: Callable[[], float] = time.time
    _token: str | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def headers(self, client: VendorClient) -> dict[str, str]:
        with self._lock:
            if self._token is None:
                self._token = self._fetch(client)
            return {"Authorization": f"Bearer {self._token}"}

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def assertion(self) -> str:
        """A signed assertion valid for the next ``_ASSERTION_SECONDS``."""
        claims = {
            "iss": self.client_id,
            "sub": self.username,
            "aud": self.audience,
            "exp": int(self.wall_clock()) + _ASSERTION_SECONDS,
        }
        try:
            key = self.signing_key().get_secret_value()
            return jwt.encode(claims, key, algorithm="RS256")
        except (OSError, ValueError, TypeError, jwt.PyJWTError) as exc:
            # A key that is not an RSA private key stays unusable: no retry.
            raise BillingRejectedError(
                f"{VENDOR}: the JWT signing key is unusable: {type(exc).__name__}"
            ) from None

    def _fetch(self, client: VendorClient) -> str:
        form = {"grant_type": JWT_BEARER_GRANT, "assertion": self.assertion()}
        response = client.request(
            "POST", self.token_path, data=form, retry_safe=True, authenticated=False
        )
        body = json_body(response, client.vendor)
        token = str(field_of(body, "access_token", vendor=client.vendor))
        _move_to(client, str(field_of(body, "instance_url", vendor=client.vendor)))
        return token


def _move_to(client: VendorClient, instance_url: str) -> None:
    url = httpx.URL(instance_url)
    if url.scheme not in {"http", "https"} or not url.host:
        raise BillingTransientError(
            f"{VENDOR}: malformed instance_url {instance_url!r}"
        )
    client.base_url = instance_url
    client.http.base_url = url


class SalesforceClient:
    """Queries, composite requests and updates against one org."""

    def __init__(self, http: VendorClient, *, api_version: str) -> None:
        self.http = http
        self.data_path = f"/services/data/{api_version}"

    @classmethod
    def connect(
        cls,
        settings: SalesforceSettings,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> "SalesforceClient":
        """A client that signs in on its first call; settings must be complete."""
        if not settings.is_configured or settings.login_url is None:
            raise ValueError("Salesforce settings are incomplete")
        login_url = settings.login_url.rstrip("/")
        auth = _login(settings, login_url + OAUTH_PATH)
        http = VendorClient(
            vendor=VENDOR,
            base_url=login_url,
            timeout_seconds=settings.timeout_seconds,
            retry=retry or RetryPolicy(),
            auth=auth,
            sleep=sleep,
        )
        return cls(http, api_version=settings.api_version)

    def sobject_path(self, sobject: str, record_id: str | None = None) -> str:
        path = f"{self.data_path}/sobjects/{sobject}"
        return path if record_id is None else f"{path}/{record_id}"

    def query(self, soql: str) -> list[dict[str, Any]]:
        """The records of a SOQL query's first batch (enough for a lookup)."""
        records, _ = self._batch(f"{self.data_path}/query", {"q": soql})
        return records

    def query_all(self, soql: str) -> Iterator[list[dict[str, Any]]]:
        """Every record a SOQL query selects, one batch at a time, following
        ``nextRecordsUrl`` until Salesforce says it is done."""
        records, next_url = self._batch(f"{self.data_path}/query", {"q": soql})
        yield records
        while next_url is not None:
            records, next_url = self._batch(next_url, None)
            yield records

    def _batch(
        self, path: str, params: Mapping[str, str] | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        response = self._send("GET", path, params=params, retry_safe=True)
        body = json_body(response, VENDOR)
        records = field_of(body, "records", vendor=VENDOR)
        if not isinstance(records, list) or not all(
            isinstance(r, dict) for r in records
        ):
            raise BillingTransientError(f"{VENDOR}: malformed query answer")
        next_url = body.get("nextRecordsUrl")
        if body.get("done") is False and not isinstance(next_url, str):
            raise BillingTransientError(f"{VENDOR}: a query batch with no next one")
        return records, next_url if body.get("done") is False else None

    def composite(self, subrequests: list[dict[str, Any]]) -> dict[str, Any]:
        """Run sub-requests in one all-or-nothing transaction.

        Not retried here: an answer lost on the way may hide a commit, which
        only a lookup can tell. Returns each sub-response by its referenceId.
        """
        body = {"allOrNone": True, "compositeRequest": subrequests}
        response = self._send(
            "POST",
            f"{self.data_path}/composite",
            content=json_bytes(body),
            headers={"Content-Type": "application/json"},
            retry_safe=False,
        )
        parts = field_of(
            json_body(response, VENDOR), "compositeResponse", vendor=VENDOR
        )
        if not isinstance(parts, list):
            raise BillingTransientError(f"{VENDOR}: malformed composite answer")
        return {
            str(part.get("referenceId")): part
            for part in parts
            if isinstance(part, dict)
        }

    def update(self, sobject: str, record_id: str, fields: dict[str, Any]) -> None:
        """Set fields on one record; setting them twice changes nothing."""
        self._send(
            "PATCH",
            self.sobject_path(sobject, record_id),
            json=fields,
            expect=(204,),
            retry_safe=True,
        )

    def _send(
        self,
        method: str,
        path: str,
        *,
        retry_safe: bool,
        expect: Collection[int] = (200, 201),
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        response = self.http.request(
            method,
            path,
            expect=(*expect, 403),
            retry_safe=retry_safe,
            json=json,
            content=content,
            params=params,
            headers=headers,
        )
        if response.status_code == 403:
            raise _forbidden(method, path, response)
        return response


def _login(settings: SalesforceSettings, token_url: str) -> TokenSource:
    assert settings.client_id is not None
    if settings.auth_flow == "jwt_bearer":
        assert settings.username is not None
        return SalesforceJwtLogin(
            token_url,
            settings.client_id,
            settings.username,
            settings.jwt_audience,
            signing_key=settings.signing_key,
        )
    assert settings.client_secret is not None
    return SalesforceLogin(token_url, settings.client_id, settings.client_secret)


def error_list(body: Any) -> list[dict[str, Any]]:
    """Salesforce's ``[{"message", "errorCode", ...}]``, or nothing."""
    if not isinstance(body, list):
        return []
    return [error for error in body if isinstance(error, dict)]


def describe_errors(errors: list[dict[str, Any]]) -> str:
    """``CODE: message (fields)`` for each error, joined for a human."""
    described = []
    for error in errors:
        text = f"{error.get('errorCode', 'ERROR')}: {error.get('message', '')}"
        fields = error.get("fields")
        if isinstance(fields, list) and fields:
            text += f" ({', '.join(str(f) for f in fields)})"
        described.append(text)
    return "; ".join(described)


def _forbidden(
    method: str, path: str, response: httpx.Response
) -> BillingTransientError | BillingRejectedError:
    try:
        errors = error_list(response.json())
    except ValueError:
        errors = []
    text = f"{VENDOR}: 403 on {method} {path}: "
    text += describe_errors(errors) if errors else snippet(response)
    if any(error.get("errorCode") in TRANSIENT_CODES for error in errors):
        return BillingTransientError(text)
    return BillingRejectedError(text)
