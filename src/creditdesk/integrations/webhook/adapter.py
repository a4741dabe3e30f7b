"""The webhook billing system: each credit POSTed, signed, to one URL.

The receiver is ours to describe, so the contract is written here:

- ``POST <CREDITDESK_WEBHOOK_URL>`` with a JSON body (see ``payload``), the
  headers ``Idempotency-Key`` (the outbox message id), ``X-Creditdesk-Timestamp``
  and ``X-Creditdesk-Signature`` (see ``signing``);
- 2xx with ``{"reference": "...", "applied": true|false}``: the receiver's
  reference becomes the credit's ``external_ref`` (up to 100 characters);
- a repeated key must answer as the first request did (and do nothing more);
- 409 while the first request with a key is still being handled: tried later;
- any other 4xx refuses the credit (the body is kept as the reason); 5xx,
  timeouts and refused connections are tried again.

Because the receiver is idempotent by key, sending again is safe, and there
is nothing to look up: ``find_by_idempotency_key`` answers None and the
repeated POST returns the first answer.
"""

import time
from collections.abc import Callable
from typing import Any

import structlog

from creditdesk.billing.adapters import (
    BillingRejectedError,
    BillingTransientError,
    PostingRequest,
    PostingResult,
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
_REFERENCE_CHARS = 100
_IN_FLIGHT = 409


class WebhookAdapter:
    """Posts credits to the configured receiver."""

    def __init__(
        self,
        *,
        url: str,
        secret: str,
        clock: Clock,
        timeout_seconds: float = 10.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._url = url
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
            timeout_seconds=settings.timeout_seconds,
        )

    def post_credit(self, request: PostingRequest) -> PostingResult:
        """POST the credit; a repeat of the key gets the first answer back."""
        body = json_bytes(payload(request))
        timestamp = str(int(self._clock().timestamp()))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": request.idempotency_key,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
        }
        response = self._client.request(
            "POST",
            self._url,
            content=body,
            headers=headers,
            expect=(*range(200, 300), _IN_FLIGHT),
            retry_safe=True,
            # The signature is the credential: there is no token to renew.
            authenticated=False,
        )
        if response.status_code == _IN_FLIGHT:
            raise BillingTransientError(
                f"{VENDOR}: 409 for {request.idempotency_key}, still in flight: "
                f"{snippet(response)}",
                retry_after_seconds=retry_after_seconds(response),
            )
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


def _result(body: Any) -> PostingResult:
    reference = field_of(body, "reference", vendor=VENDOR)
    applied = body.get("applied", False)
    if not isinstance(reference, str) or not reference or not isinstance(applied, bool):
        raise BillingTransientError(f"{VENDOR}: malformed answer: {body!r:.200}")
    if len(reference) > _REFERENCE_CHARS:
        # Accepted by the receiver, but we cannot keep the reference: someone
        # has to match the two by hand.
        raise BillingRejectedError(
            f"{VENDOR}: reference longer than {_REFERENCE_CHARS} characters: "
            f"{reference[:_REFERENCE_CHARS]}..."
        )
    return PostingResult(
        external_ref=reference,
        applied=applied,
        raw_status="applied" if applied else "accepted",
    )
