"""``creditdesk fake-billing sap|salesforce|webhook``: the settings each fake
prints are enough for creditdesk to post a credit to it and reverse it.

(Zuora's demo tenant has its own tests in ``test_zuora_cli``.)
"""

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.accounts.models import BillingSystem
from creditdesk.billing.adapters import PostingRequest, VoidRequest
from creditdesk.billing.registry import adapter_for
from creditdesk.clock import FrozenClock
from creditdesk.config import Settings
from creditdesk.integrations.cli import (
    DEMO_SALESFORCE_ACCOUNT,
    DEMO_SAP_CUSTOMER,
    fake_app,
)
from creditdesk.integrations.fakes.server import free_port, serve

NOW = datetime(2024, 6, 7, 8, 9, tzinfo=UTC)
CUSTOMERS = {
    "sap": DEMO_SAP_CUSTOMER,
    "salesforce": DEMO_SALESFORCE_ACCOUNT,
    "webhook": "any-customer",
}


def _export(lines: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for line in lines:
        if line.strip().startswith("export "):
            name, value = line.strip().removeprefix("export ").split("=", 1)
            monkeypatch.setenv(name, value)


@pytest.mark.parametrize("vendor", sorted(CUSTOMERS))
def test_the_printed_settings_post_and_reverse_a_credit(
    vendor: str,
    monkeypatch: pytest.MonkeyPatch,
    session_factory: sessionmaker[Session],
) -> None:
    port = free_port()
    asgi, lines = fake_app(vendor, port)
    _export(lines, monkeypatch)
    customer = CUSTOMERS[vendor]
    assert vendor == "webhook" or any(customer in line for line in lines)

    with serve(asgi, port=port):
        adapter = adapter_for(
            BillingSystem(vendor),
            session_factory=session_factory,
            settings=Settings(env="test"),
            # The fakes check tokens and signatures on the wall clock.
            clock=FrozenClock(datetime.now(UTC)),
        )
        posted = adapter.post_credit(_posting(vendor, customer))
        reversed_ = adapter.void_credit(_void(vendor, customer, posted.external_ref))

    assert posted.external_ref
    assert reversed_.external_ref == posted.external_ref


def _posting(vendor: str, customer: str) -> PostingRequest:
    return PostingRequest(
        idempotency_key=f"demo-{vendor}-post",
        credit_id=1,
        credit_number="BC-000001",
        account_number="ACC-DEMO",
        external_account_id=customer,
        amount_minor=3_500,
        currency="GBP",
        reason="overcharge",
        credit_type="dispute",
        invoice_ref=None,
        memo_text="Credit BC-000001 (dispute, overcharge)",
    )


def _void(vendor: str, customer: str, external_ref: str) -> VoidRequest:
    return VoidRequest(
        idempotency_key=f"demo-{vendor}-void",
        credit_id=1,
        credit_number="BC-000001",
        account_number="ACC-DEMO",
        external_account_id=customer,
        external_ref=external_ref,
        amount_minor=3_500,
        currency="GBP",
        memo_text="Credit BC-000001 voided",
    )
