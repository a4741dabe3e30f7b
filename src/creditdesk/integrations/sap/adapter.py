"""Posting a credit to SAP S/4HANA as a credit memo request.

Follows SAP's API_CREDIT_MEMO_REQUEST_SRV (OData V2):

- ``GET  .../A_CreditMemoRequest?$filter=PurchaseOrderByCustomer eq '...'``
  finds a memo request an earlier attempt raised; sent with
  ``X-CSRF-Token: Fetch``, it also hands out the token a write needs;
- ``POST .../A_CreditMemoRequest`` creates one, header and item in one deep
  insert, with that token and the session cookies that came with it;
- ``GET  .../`` (the service document) fetches a token again when SAP calls
  the one we hold stale (``403`` with ``X-CSRF-Token: Required``).

The service has no idempotency header, so exactly once rests on the lookup:
``post_credit`` always looks for the outbox key in ``PurchaseOrderByCustomer``
before creating, and a create is never sent twice in one call. The lookup and
the create run under a lock on the key (``outbox.locks``), so a second worker
that took the message over when a lease ran out cannot look and create while
the first is still doing so. A create whose answer is lost (a timeout, a
5xx, a garbled body) goes back to the outbox no sooner than
``settle_seconds`` later, and that attempt finds the memo request if SAP made
it. What remains: a create SAP finishes more than ``settle_seconds`` after we
stopped waiting is not seen by that lookup, and a second one is made.

Voiding rejects the memo request's items (``reversal``).
"""

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import structlog
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.billing.adapters import (
    BillingTransientError,
    PostingRequest,
    PostingResult,
    VoidRequest,
    VoidResult,
)
from creditdesk.integrations.auth import BasicAuth, ClientCredentials
from creditdesk.integrations.http import (
    RetryPolicy,
    TokenSource,
    VendorClient,
    field_of,
    json_body,
)
from creditdesk.integrations.sap.mapping import (
    customer_reference,
    memo_request,
    odata_string,
    posting_result,
)
from creditdesk.integrations.sap.odata import (
    CSRF_HEADER,
    ENTITY_SET,
    SERVICE_PATH,
    VENDOR,
    csrf_required,
    refusal,
)
from creditdesk.integrations.sap.reversal import SapRejection
from creditdesk.integrations.sap.settings import SapSettings
from creditdesk.outbox.errors import PermanentError
from creditdesk.outbox.locks import KeyLocks

log = structlog.get_logger(__name__)

__all__ = ["ENTITY_SET", "SERVICE_PATH", "SapAdapter", "build_adapter"]


class SapAdapter:
    """Raises one credit memo request per outbox key in S/4HANA."""

    def __init__(
        self, settings: SapSettings, client: VendorClient, locks: KeyLocks
    ) -> None:
        self._settings = settings
        self._client = client
        self._locks = locks
        self._settle_seconds = float(settings.settle_seconds)
        self._csrf_token: str | None = None

    def post_credit(self, request: PostingRequest) -> PostingResult:
        """Create the memo request, or return the one this key already made.

        KeyBusy (retried later) while another worker is posting the same key:
        the lookup and the create are one step that only one worker takes.
        """
        body = memo_request(self._settings, request)
        reference = body["PurchaseOrderByCustomer"]
        with self._locks.hold(reference, retry_after_seconds=self._settle_seconds):
            found = self._lookup(reference, fetch_token=True)
            if found is not None:
                log.info(
                    "sap.memo_request_found",
                    reference=reference,
                    external_ref=found.external_ref,
                )
                return found
            return self._create(body, request)

    def void_credit(self, request: VoidRequest) -> VoidResult:
        """Reject every item of the memo request with the configured reason."""
        rejection = SapRejection(
            self._settings,
            self._client,
            token=lambda: self._csrf_token or self._fetch_token(),
            fresh_token=self._fetch_token,
        )
        return rejection.void_credit(request)

    def find_by_idempotency_key(self, key: str) -> PostingResult | None:
        """The memo request whose PurchaseOrderByCustomer holds ``key``."""
        return self._lookup(customer_reference(self._settings, key), fetch_token=False)

    def _lookup(self, reference: str, *, fetch_token: bool) -> PostingResult | None:
        # Quoted by hand: SAP Gateway wants %20 for spaces, not "+".
        query = quote(f"PurchaseOrderByCustomer eq {odata_string(reference)}", "'")
        path = f"{ENTITY_SET}?$filter={query}&$top=1&$format=json"
        # The lookup before a create fetches the token the create needs,
        # which saves a round trip; a token we hold is used until refused.
        fetch = fetch_token and self._csrf_token is None
        headers = {CSRF_HEADER: "Fetch"} if fetch else None
        response = self._client.request(
            "GET", path, expect=(200,), retry_safe=True, headers=headers
        )
        if fetch:
            self._csrf_token = response.headers.get(CSRF_HEADER) or None

        results = field_of(json_body(response, VENDOR), "d", "results", vendor=VENDOR)
        if not isinstance(results, list):
            raise BillingTransientError("sap: malformed response: d.results")
        if not results:
            return None
        result = posting_result(results[0])
        if result is None:
            raise BillingTransientError("sap: malformed response: no CreditMemoRequest")
        return result

    def _create(self, body: dict[str, Any], request: PostingRequest) -> PostingResult:
        token = self._csrf_token or self._fetch_token()
        try:
            response = self._send(body, token)
        except BillingTransientError as exc:
            raise self._uncertain(exc) from exc
        if csrf_required(response):
            # The session behind our token ended; SAP did nothing with the
            # request, so one more try with a fresh token is safe.
            log.info("sap.csrf_token_refetched", credit_id=request.credit_id)
            try:
                response = self._send(body, self._fetch_token())
            except BillingTransientError as exc:
                raise self._uncertain(exc) from exc
            if csrf_required(response):
                raise BillingTransientError("sap: a fresh CSRF token was refused too")
        if response.status_code >= 400:
            raise refusal(response)

        try:
            entity = field_of(json_body(response, VENDOR), "d", vendor=VENDOR)
            result = posting_result(entity)
            if result is None:
                raise BillingTransientError(
                    "sap: malformed response: no CreditMemoRequest"
                )
        except BillingTransientError as exc:
            raise self._uncertain(exc) from exc
        log.info(
            "sap.memo_request_created",
            credit_id=request.credit_id,
            external_ref=result.external_ref,
        )
        return result

    def _uncertain(self, error: BillingTransientError) -> BillingTransientError:
        """A create whose outcome we did not hear: SAP may still be making it.

        The next attempt looks the key up first, but only after SAP has had
        ``settle_seconds`` to finish, so that the lookup sees its result.
        """
        floor = max(error.retry_after_seconds or 0.0, self._settle_seconds)
        return BillingTransientError(str(error), retry_after_seconds=floor)

    def _send(self, body: dict[str, Any], token: str) -> httpx.Response:
        return self._client.request(
            "POST",
            ENTITY_SET,
            # 200 is not SAP's answer to a create, but a body worth reading:
            # a proxy's login page is malformed, hence retried after a lookup.
            expect=(200, 201, 400, 403),
            retry_safe=False,
            json=body,
            headers={CSRF_HEADER: token},
        )

    def _fetch_token(self) -> str:
        response = self._client.request(
            "GET",
            f"{SERVICE_PATH}/",
            expect=(200,),
            retry_safe=True,
            headers={CSRF_HEADER: "Fetch"},
        )
        token = response.headers.get(CSRF_HEADER)
        if not token or token.lower() == "required":
            raise BillingTransientError("sap: the service handed out no CSRF token")
        self._csrf_token = token
        return token


def build_adapter(
    settings: SapSettings | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
    retry: RetryPolicy | None = None,
    session_factory: sessionmaker[Session] | None = None,
    locks: KeyLocks | None = None,
) -> SapAdapter:
    """The adapter for ``settings`` (read from the environment by default).

    PermanentError when they are incomplete: retrying would not configure SAP.
    Its posting lock spans processes when ``session_factory`` reaches
    PostgreSQL; ``locks`` shares one set of locks between adapters.
    """
    settings = settings or SapSettings()
    if not settings.is_configured:
        raise PermanentError("billing system 'sap' is not configured")
    client = build_client(settings, sleep=sleep, retry=retry)
    return SapAdapter(settings, client, locks or _locks_for(session_factory))


_process_locks = KeyLocks()


def _locks_for(session_factory: sessionmaker[Session] | None) -> KeyLocks:
    # Without a database that holds locks, the adapters of one process still
    # share theirs (an adapter is built per message).
    locks = KeyLocks(session_factory) if session_factory else None
    return locks if locks is not None and locks.across_processes else _process_locks


def build_client(
    settings: SapSettings,
    *,
    sleep: Callable[[float], None] = time.sleep,
    retry: RetryPolicy | None = None,
) -> VendorClient:
    """A client for the system in ``settings``, signing in as they say."""
    return VendorClient(
        vendor=VENDOR,
        base_url=settings.base_url,
        timeout_seconds=settings.timeout_seconds,
        retry=retry or RetryPolicy(),
        auth=_auth(settings),
        sleep=sleep,
    )


def _auth(settings: SapSettings) -> TokenSource:
    if settings.auth_mode == "oauth":
        assert settings.client_secret is not None
        return ClientCredentials(
            settings.token_path, settings.client_id, settings.client_secret
        )
    assert settings.password is not None
    return BasicAuth(settings.username, settings.password)
