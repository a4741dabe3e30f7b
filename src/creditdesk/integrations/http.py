"""The one call path to a vendor's HTTP API.

Every billing adapter sends its requests through ``VendorClient.request``:
timeouts, a bounded number of in-process retries of transient failures with
exponential backoff and full jitter, Retry-After honoured, one refresh of an
expired token, and every answer sorted into a result, a retryable failure
(``BillingTransientError``, which the outbox retries later) or a refusal
(``BillingRejectedError``, which goes to billing operations).
"""

import json as jsonlib
import random
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx
import structlog

from creditdesk.billing.adapters import BillingRejectedError, BillingTransientError
from creditdesk.integrations.payloads import json_bytes

log = structlog.get_logger(__name__)

# A vendor's error text is kept, but not a whole HTML error page.
_SNIPPET_CHARS = 500

_jitter = random.SystemRandom()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard one call tries before the outbox takes over.

    A Retry-After longer than ``max_wait_seconds`` is not waited out in the
    worker's thread: the failure goes back to the outbox with that delay.
    """

    attempts: int = 3
    base_seconds: float = 0.2
    max_seconds: float = 2.0
    max_wait_seconds: float = 5.0

    def backoff(self, attempt: int) -> float:
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** (attempt - 1))
        return _jitter.uniform(0, ceiling)


class TokenSource(Protocol):
    """Something that puts credentials on a request (OAuth, basic auth)."""

    def headers(self, client: "VendorClient") -> dict[str, str]: ...

    def invalidate(self) -> None: ...


@dataclass
class VendorClient:
    """A thin typed client for one vendor; adapters build one per system."""

    vendor: str
    base_url: str
    timeout_seconds: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    auth: TokenSource | None = None
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep
    _http: httpx.Client | None = field(default=None, init=False, repr=False)

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(
                base_url=self.base_url,
                timeout=self.timeout_seconds,
                transport=self.transport,
            )
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def request(
        self,
        method: str,
        path: str,
        *,
        expect: Collection[int] = (200, 201),
        retry_safe: bool,
        json: Any = None,
        content: bytes | None = None,
        data: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        authenticated: bool = True,
    ) -> httpx.Response:
        """Send one request and return the expected answer.

        ``retry_safe`` says whether sending it again cannot do the work twice
        (a read, or a write carrying an idempotency key); only then is a
        transient failure retried here. ``content`` sends a body exactly as
        given, for a signed body or JSON that ``json=`` cannot encode.
        """
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            sent = self._headers(headers, authenticated)
            body = content
            if json is not None:
                body = json_bytes(json)
                sent["Content-Type"] = "application/json"
            try:
                response = self.http.request(
                    method,
                    path,
                    content=body,
                    data=data,
                    params=params,
                    headers=sent,
                )
            except httpx.TransportError as exc:
                failure = BillingTransientError(
                    f"{self.vendor}: {type(exc).__name__} on {method} {path}"
                )
            else:
                if response.status_code in expect:
                    return response
                if response.status_code == 401 and authenticated and not refreshed:
                    # An expired or revoked token: fetch a new one once.
                    if self.auth is not None:
                        self.auth.invalidate()
                    refreshed = True
                    attempt -= 1
                    continue
                failure = self._failure(method, path, response)

            self._give_up_or_wait(failure, attempt, retry_safe, method, path)

    def _headers(
        self, extra: Mapping[str, str] | None, authenticated: bool
    ) -> dict[str, str]:
        sent = {"Accept": "application/json"}
        if authenticated and self.auth is not None:
            sent.update(self.auth.headers(self))
        if extra:
            sent.update(extra)
        return sent

    def _failure(
        self, method: str, path: str, response: httpx.Response
    ) -> BillingTransientError | BillingRejectedError:
        status = response.status_code
        text = f"{self.vendor}: {status} on {method} {path}: {snippet(response)}"
        if status == 429 or status >= 500:
            return BillingTransientError(
                text, retry_after_seconds=retry_after_seconds(response)
            )
        return BillingRejectedError(text)

    def _give_up_or_wait(
        self,
        failure: BillingTransientError | BillingRejectedError,
        attempt: int,
        retry_safe: bool,
        method: str,
        path: str,
    ) -> None:
        if isinstance(failure, BillingRejectedError):
            raise failure
        if not retry_safe or attempt >= self.retry.attempts:
            raise failure
        wait = failure.retry_after_seconds
        if wait is None:
            wait = self.retry.backoff(attempt)
        if wait > self.retry.max_wait_seconds:
            raise failure
        log.info(
            "integration.retrying",
            vendor=self.vendor,
            method=method,
            path=path,
            attempt=attempt,
            wait_seconds=round(wait, 3),
        )
        self.sleep(wait)


def snippet(response: httpx.Response) -> str:
    """The start of a vendor's answer, on one line, for error messages."""
    text = " ".join(response.text.split())
    return text[:_SNIPPET_CHARS]


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Retry-After as seconds: it may be a number or an HTTP date."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def json_body(response: httpx.Response, vendor: str) -> Any:
    """The answer's JSON, numbers with a fraction read as ``Decimal``.

    A malformed answer is worth another try later.
    """
    try:
        return jsonlib.loads(response.content, parse_float=Decimal)
    except ValueError:
        raise BillingTransientError(
            f"{vendor}: malformed response to {response.request.method} "
            f"{response.request.url.path}: {snippet(response)}"
        ) from None


def field_of(body: Any, *path: str, vendor: str) -> Any:
    """``body[path[0]][path[1]]...``; a missing field is a malformed answer."""
    current = body
    for name in path:
        if not isinstance(current, dict) or name not in current:
            raise BillingTransientError(
                f"{vendor}: malformed response: no {'.'.join(path)}"
            )
        current = current[name]
    return current
