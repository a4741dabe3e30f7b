"""The webhook billing system: each credit POSTed, signed, to one URL, and
each voided credit's reversal POSTed, signed, to another.

The receiver is ours to describe, so the contract is written here:

- ``POST <CREDITDESK_WEBHOOK_URL>`` with a JSON body (see ``payload``), the
  headers ``Idempotency-Key`` (the outbox message id), ``X-Creditdesk-Timestamp``
  and ``X-Creditdesk-Signature`` (see ``signing``);
- 2xx with ``{"reference": "...", "applied": true|false}``: the receiver's
  reference becomes the credit's ``external_ref`` (up to 100 characters);
- ``POST <CREDITDESK_WEBHOOK_REVERSAL_URL>`` (by default the posting URL plus
  ``/reversals``) when a posted credit is voided: signed the same way, its
  own ``Idempotency-Key`` (the ``credit.void`` message id) and a body (see
  ``reversal_payload``) naming the posting by the reference the receiver
  gave it (``posting_reference``); 2xx with ``{"reference": "...",
  "reverses": "<posting_reference>"}``. A receiver reverses a posting at
  most once: a reversal of one already reversed answers the first reversal;
- a repeated key must answer as the first request did (and do nothing more);
- 409 while the first request with a key is still being handled: tried later;
- any other 4xx refuses the credit or its reversal (the body is kept as the
  reason); 5xx, timeouts and refused connections are tried again.

Because the receiver is idempotent by key, sending again is safe, and there
is nothing to look up: ``find_by_idempotency_key`` answers None and the
repeated POST returns the first answer.
"""

import time
from collections.abc import Callable
from typing import Any

import httpx
import structlog

from creditdesk.billing.adapters import (
    BillingRejectedError,
    BillingTransientError,
    PostingRequest,
    PostingResult,
    VoidRequest,
    VoidResult,
)
from creditdesk.clock import Clock
from creditdesk.integrations.http import (
    RetryPolicy,
    VendorClient,
    field_of,
    json_body,
    retry_after_seconds,
    snippet,
)
from creditdesk.integrations.payloads import json_bytes
from creditdesk.integrations.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
)
from creditdesk.integrations.webhook.settings import WebhookSettings
from creditdesk.money import format_amount

log = structlog.get_logger(__name__)

VENDOR = "webhook"
REVERSALS = "/reversals"
_REFERENCE_CHARS = 100
_IN_FLIGHT = 409


class WebhookAdapter:
    """Posts credits, and reverses voided ones, at the configured receiver."""

    def __init__(
        self,
        *,
        url: str,
        secret: str,
        clock: Clock,
        reversal_url: str | None = None,
        timeout_seconds: float = 10.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._url = url
        self._reversal_url = reversal_url or url.rstrip("/") + REVERSALS
        self._secret = secret
        self._clock = clock
        self._client = VendorClient(
            vendor=VENDOR,
            base_url=url,
            timeout_seconds=timeout_seconds,
            retry=retry or RetryPolicy(),
            sleep=sleep,
        )

    @classmethod
    def from_settings(
        cls, settings: WebhookSettings, *, clock: Clock
    ) -> "WebhookAdapter":
        if not (settings.url and settings.secret):
            raise ValueError("webhook settings are incomplete")
        return cls(
            url=settings.url,
            secret=settings.secret.get_secret_value(),
            clock=clock,
            reversal_url=settings.reversal_url,
            timeout_seconds=settings.timeout_seconds,
        )

    def post_credit(self, request: PostingRequest) -> PostingResult:
        """POST the credit; a repeat of the key gets the first answer back."""
        key = request.idempotency_key
        response = self._send(self._url, key, payload(request))
        result = _result(json_body(response, VENDOR))
        log.info(
            "webhook.credit_posted",
            credit_id=request.credit_id,
            external_ref=result.external_ref,
            applied=result.applied,
        )
        return result

    def find_by_idempotency_key(self, key: str) -> PostingResult | None:
        """Nothing to look up: posting again with the key replays the answer."""
        return None

    def void_credit(self, request: VoidRequest) -> VoidResult:
        """POST the reversal of ``request.external_ref``; a repeat of the void
        key, or another reversal of the same posting, gets the first back."""
        key = request.idempotency_key
        response = self._send(self._reversal_url, key, reversal_payload(request))
        result = _reversal(json_body(response, VENDOR), request.external_ref)
        log.info(
            "webhook.credit_reversed",
            credit_id=request.credit_id,
            external_ref=result.external_ref,
            reversal_ref=result.reversal_ref,
        )
        return result

    def _send(self, url: str, key: str, body: dict[str, Any]) -> httpx.Response:
        """POST ``body`` signed, keyed by ``key``: the one way to the receiver."""
        raw = json_bytes(body)
        timestamp = str(int(self._clock().timestamp()))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, raw),
        }
        response = self._client.request(
            "POST",
            url,
            content=raw,
            headers=headers,
            expect=(*range(200, 300), _IN_FLIGHT),
            retry_safe=True,
            # The signature is the credential: there is no token to renew.
            authenticated=False,
        )
        if response.status_code == _IN_FLIGHT:
            raise BillingTransientError(
                f"{VENDOR}: 409 for {key}, still in flight: {snippet(response)}",
                retry_after_seconds=retry_after_seconds(response),
            )
        return response


def payload(request: PostingRequest) -> dict[str, Any]:
    """The JSON body a receiver gets; the amount both as text and minor units."""
    return {
        "idempotency_key": request.idempotency_key,
        "credit_id": request.credit_id,
        "credit_number": request.credit_number,
        "account_number": request.account_number,
        "external_account_id": request.external_account_id,
        "amount": format_amount(request.amount_minor, request.currency),
        "amount_minor": request.amount_minor,
        "currency": request.currency,
        "credit_type": request.credit_type,
        "reason": request.reason,
        "invoice_ref": request.invoice_ref,
        "memo_text": request.memo_text,
    }


def reversal_payload(request: VoidRequest) -> dict[str, Any]:
    """The JSON body of a reversal: the posting it takes back, and its amount
    so that the receiver can check it reverses what it was sent."""
    return {
        "idempotency_key": request.idempotency_key,
        "posting_reference": request.external_ref,
        "credit_id": request.credit_id,
        "credit_number": request.credit_number,
        "account_number": request.account_number,
        "external_account_id": request.external_account_id,
        "amount": format_amount(request.amount_minor, request.currency),
        "amount_minor": request.amount_minor,
        "currency": request.currency,
        "memo_text": request.memo_text,
    }


def _result(body: Any) -> PostingResult:
    reference = _reference(body)
    applied = body.get("applied", False)
    if not isinstance(applied, bool):
        raise BillingTransientError(f"{VENDOR}: malformed answer: {body!r:.200}")
    return PostingResult(
        external_ref=reference,
        applied=applied,
        raw_status="applied" if applied else "accepted",
    )


def _reversal(body: Any, posting_reference: str) -> VoidResult:
    reference = _reference(body)
    reverses = body.get("reverses")
    if reverses != posting_reference:
        # The receiver took back something else, or says nothing of what:
        # asking again would get the same answer, so a person must look.
        raise BillingRejectedError(
            f"{VENDOR}: reversal {reference} names {reverses!r}, "
            f"not the posting {posting_reference}"
        )
    return VoidResult(
        external_ref=posting_reference, raw_status="reversed", reversal_ref=reference
    )


def _reference(body: Any) -> str:
    reference = field_of(body, "reference", vendor=VENDOR)
    if not isinstance(reference, str) or not reference:
        raise BillingTransientError(f"{VENDOR}: malformed answer: {body!r:.200}")
    if len(reference) > _REFERENCE_CHARS:
        # Accepted by the receiver, but we cannot keep the reference: someone
        # has to match the two by hand.
        raise BillingRejectedError(
            f"{VENDOR}: reference longer than {_REFERENCE_CHARS} characters: "
            f"{reference[:_REFERENCE_CHARS]}..."
        )
    return reference
