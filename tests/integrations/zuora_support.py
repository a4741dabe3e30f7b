"""A fake Zuora tenant served over HTTP, and adapters pointed at it."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from pydantic import SecretStr

from creditdesk.billing.adapters import PostingRequest
from creditdesk.clock import FrozenClock
from creditdesk.integrations.fakes.server import serve
from creditdesk.integrations.zuora.adapter import ZuoraAdapter, build_client
from creditdesk.integrations.zuora.fake import ZuoraFake
from creditdesk.integrations.zuora.fake_tenant import Account, Invoice
from creditdesk.integrations.zuora.settings import ZuoraSettings

CHARGE_ID = "goodwill-credit-charge"
FAKE_START = datetime(2024, 4, 5, 9, 0, tzinfo=UTC)


@dataclass
class Tenant:
    fake: ZuoraFake
    url: str
    clock: FrozenClock

    def account(self, currency: str = "GBP") -> Account:
        return self.fake.add_account(
            number=f"A{uuid.uuid4().hex[:10]}", currency=currency
        )

    def invoice(self, account: Account, *amounts: str) -> Invoice:
        items = [(f"Broadband {n}", Decimal(a)) for n, a in enumerate(amounts)]
        return self.fake.add_invoice(
            account=account, number=f"INV{uuid.uuid4().hex[:8]}", items=items
        )


@dataclass
class Connected:
    adapter: ZuoraAdapter
    waits: list[float] = field(default_factory=list)


@contextmanager
def running_tenant() -> Iterator[Tenant]:
    """A fake tenant on a free loopback port, on its own frozen clock."""
    clock = FrozenClock(FAKE_START)
    fake = ZuoraFake(clock=clock)
    with serve(fake.asgi()) as url:
        yield Tenant(fake, url, clock)


def settings_for(url: str, **overrides: object) -> ZuoraSettings:
    values: dict[str, object] = {
        "base_url": url,
        "client_id": "creditdesk",
        "client_secret": SecretStr("s3cret"),
        "charge_id": CHARGE_ID,
        "timeout_seconds": 0.5,
        **overrides,
    }
    return ZuoraSettings(_env_file=None, **values)  # type: ignore[arg-type]


def connect(url: str, clock: FrozenClock, **overrides: object) -> Connected:
    """An adapter with its own client (and token); waits are recorded."""
    waits: list[float] = []
    settings = settings_for(url, **overrides)
    client = build_client(settings, sleep=waits.append)
    return Connected(ZuoraAdapter(settings, clock=clock, client=client), waits)


def request(
    account: Account | None,
    *,
    amount_minor: int = 1_250,
    currency: str = "GBP",
    reason: str = "goodwill",
    invoice: Invoice | None = None,
    key: str | None = None,
) -> PostingRequest:
    return PostingRequest(
        idempotency_key=key or f"outbox-{uuid.uuid4().hex[:12]}",
        credit_id=1,
        credit_number="BC-000001",
        account_number="ACC-1",
        external_account_id=account.number if account else None,
        amount_minor=amount_minor,
        currency=currency,
        reason=reason,
        credit_type="goodwill",
        invoice_ref=invoice.number if invoice else None,
        memo_text="Credit BC-000001 (goodwill, goodwill)",
    )
