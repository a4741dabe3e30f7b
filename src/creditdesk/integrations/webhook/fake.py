"""A fake webhook receiver that keeps the contract the adapter documents.

``POST /credits`` checks the signature (401 when it does not verify), needs an
``Idempotency-Key`` (400 without one), answers a repeated key with the first
answer and ``Idempotent-Replayed: true``, refuses accounts it was told to
refuse (422), and otherwise records the credit and answers 201
``{"reference", "applied"}``.
"""

import json
import threading
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
    answers: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def credits_for(self, key: str) -> list[dict[str, Any]]:
        with self.lock:
            return [c for c in self.credits if c["idempotency_key"] == key]


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
            if key in receiver.answers:
                status, body = receiver.answers[key]
                headers = {"Idempotent-Replayed": "true"}
                return JSONResponse(body, status, headers=headers)
            try:
                credit = json.loads(raw)
            except ValueError:
                return JSONResponse({"error": "the body is not JSON"}, 400)
            status, body = _handle(receiver, credit)
            receiver.answers[key] = (status, body)
        return JSONResponse(body, status)

    return FaultInjector(app, receiver.faults)


def _handle(receiver: Receiver, credit: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    account = credit.get("account_number")
    if account in receiver.refused_accounts:
        return 422, {"error": f"account {account} is closed in this billing system"}
    receiver.credits.append(credit)
    reference = f"WH-{len(receiver.credits):06d}"
    return 201, {"reference": reference, "applied": receiver.applied}
