"""A fake webhook receiver that keeps the contract the adapter documents.

``POST /credits`` checks the signature (401 when it does not verify), needs an
``Idempotency-Key`` (400 without one), answers a repeated key with the first
answer and ``Idempotent-Replayed: true``, refuses accounts it was told to
refuse (422), and otherwise records the credit and answers 201
``{"reference", "applied"}``.

``POST /credits/reversals`` is checked and replayed the same way; it refuses
a reversal of a posting it does not know (404) or of another amount,
currency or account than was posted (422), answers a posting already
reversed with that first reversal (200), and otherwise records the reversal
and answers 201 ``{"reference", "reverses"}``.
"""

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp

from creditdesk.clock import Clock, system_clock
from creditdesk.integrations.fakes.server import FaultInjector, Faults
from creditdesk.integrations.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_signature,
)
from creditdesk.integrations.webhook.settings import WebhookSettings

PATH = "/credits"
REVERSAL_PATH = "/credits/reversals"

# What a reversal must repeat of the posting it takes back.
_MATCHED = ("amount_minor", "currency", "account_number")

Answer = tuple[int, dict[str, Any]]


@dataclass
class Receiver:
    """What the fake receiver was sent, and how it should answer."""

    secret: str = "fake-webhook-secret"  # noqa: S105 - the fake's own
    clock: Clock = system_clock
    applied: bool = True
    refused_accounts: set[str] = field(default_factory=set)
    faults: Faults = field(default_factory=Faults)
    credits: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[str] = field(default_factory=list)
    answers: dict[str, Answer] = field(default_factory=dict)
    # Posting reference -> the credit posted; and -> its reversal's answer.
    postings: dict[str, dict[str, Any]] = field(default_factory=dict)
    reversals: dict[str, dict[str, Any]] = field(default_factory=dict)
    reversal_answers: dict[str, Answer] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def credits_for(self, key: str) -> list[dict[str, Any]]:
        with self.lock:
            return [c for c in self.credits if c["idempotency_key"] == key]

    def reversal_of(self, reference: str) -> dict[str, Any] | None:
        with self.lock:
            return self.reversals.get(reference)


def create_app(receiver: Receiver | None = None) -> ASGIApp:
    """The fake receiver as an ASGI app, with faults.

    Without ``receiver`` (the demo) it checks signatures with
    ``CREDITDESK_WEBHOOK_SECRET`` when that is set, so the demo's worker and
    this fake agree.
    """
    if receiver is None:
        configured = WebhookSettings().secret
        receiver = (
            Receiver(secret=configured.get_secret_value()) if configured else Receiver()
        )
    app = FastAPI(title="Fake webhook receiver")

    @app.post(PATH)
    async def receive(request: Request) -> Response:
        return await _keyed(receiver, request, receiver.answers, _post)

    @app.post(REVERSAL_PATH)
    async def reverse(request: Request) -> Response:
        return await _keyed(receiver, request, receiver.reversal_answers, _reverse)

    return FaultInjector(app, receiver.faults)


async def _keyed(
    receiver: Receiver,
    request: Request,
    answers: dict[str, Answer],
    handle: Callable[[Receiver, dict[str, Any]], Answer],
) -> Response:
    """Verify, then answer a key once: a repeat gets the first answer."""
    raw = await request.body()
    key = request.headers.get("idempotency-key")
    signed = verify_signature(
        receiver.secret,
        request.headers.get(TIMESTAMP_HEADER, ""),
        raw,
        request.headers.get(SIGNATURE_HEADER, ""),
        receiver.clock(),
    )
    if not signed:
        return JSONResponse({"error": "signature does not verify"}, 401)
    if not key:
        return JSONResponse({"error": "Idempotency-Key is required"}, 400)

    with receiver.lock:
        receiver.deliveries.append(key)
        if key in answers:
            status, body = answers[key]
            headers = {"Idempotent-Replayed": "true"}
            return JSONResponse(body, status, headers=headers)
        try:
            sent = json.loads(raw)
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, 400)
        status, body = handle(receiver, sent)
        answers[key] = (status, body)
    return JSONResponse(body, status)


def _post(receiver: Receiver, credit: dict[str, Any]) -> Answer:
    account = credit.get("account_number")
    if account in receiver.refused_accounts:
        return 422, {"error": f"account {account} is closed in this billing system"}
    receiver.credits.append(credit)
    reference = f"WH-{len(receiver.credits):06d}"
    receiver.postings[reference] = credit
    return 201, {"reference": reference, "applied": receiver.applied}


def _reverse(receiver: Receiver, reversal: dict[str, Any]) -> Answer:
    reference = reversal.get("posting_reference")
    posting = receiver.postings.get(reference) if isinstance(reference, str) else None
    if posting is None:
        return 404, {"error": f"no posting {reference!r} to reverse"}
    differing = [name for name in _MATCHED if reversal.get(name) != posting[name]]
    if differing:
        named = ", ".join(differing)
        return 422, {"error": f"the reversal's {named} differ from {reference}'s"}

    if reference in receiver.reversals:
        # Reversed once already, under another key: that reversal stands.
        return 200, receiver.reversals[reference]
    answer = {
        "reference": f"WHR-{len(receiver.reversals) + 1:06d}",
        "reverses": reference,
    }
    receiver.reversals[reference] = answer
    return 201, answer
