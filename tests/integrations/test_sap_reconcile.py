"""Reconciling the fake S/4HANA's credit memo requests with our credits."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.accounts.models import BillingSystem
from creditdesk.billing.adapters import PostingRequest
from creditdesk.billing.tasks import idempotency_key
from creditdesk.clock import FrozenClock
from creditdesk.errors import ValidationFailed
from creditdesk.integrations.fakes.server import serve
from creditdesk.integrations.sap import SapSettings, build_adapter
from creditdesk.integrations.sap.adapter import build_client
from creditdesk.integrations.sap.fake import FakeSap, create_app
from creditdesk.integrations.sap.memos import SapMemos
from creditdesk.reconciliation.sources import source_for
from tests.integrations import reconcile_support as r

NOW = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)
START, END = date(2024, 5, 1), date(2024, 5, 31)
PREFIX = "creditdesk-"


@dataclass
class Scenario:
    factory: sessionmaker[Session]
    fake: FakeSap
    url: str
    clock: FrozenClock
    sold_to: str
    matched: list[int]
    mismatched: int
    missing: int
    untracked_ref: str

    def settings(self) -> SapSettings:
        values: dict[str, Any] = {
            "base_url": self.url,
            "username": self.fake.username,
            "password": SecretStr(self.fake.password),
            "sales_organization": "1010",
            "material": "CREDIT-ADJ",
            "timeout_seconds": 0.5,
        }
        return SapSettings(_env_file=None, **values)  # type: ignore[call-arg]

    def source(self, page_size: int = 500) -> SapMemos:
        settings = self.settings()
        return SapMemos(settings, client=build_client(settings), page_size=page_size)


def _manual(sold_to: str, key: str) -> PostingRequest:
    return PostingRequest(
        idempotency_key=key,
        credit_id=0,
        credit_number="-",
        account_number="-",
        external_account_id=sold_to,
        amount_minor=777,
        currency="GBP",
        reason="goodwill",
        credit_type="goodwill",
        invoice_ref=None,
        memo_text="Adjustment raised by hand",
    )


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    clock = FrozenClock(NOW)
    sold_to = str(uuid.uuid4().int)[:10]
    fake = FakeSap(customers={sold_to}, clock=clock)
    with (
        serve(create_app(fake)) as url,
        r.own_database(tmp_path_factory.mktemp("sap-recon")) as factory,
    ):
        scenario = Scenario(factory, fake, url, clock, sold_to, [], 0, 0, "")

        def credit(amount_minor: int) -> r.Approved:
            return r.approved_credit(
                factory,
                clock,
                system=BillingSystem.SAP,
                external_account_id=sold_to,
                amount_minor=amount_minor,
            )

        posted = [credit(amount) for amount in (1_000, 1_100, 1_200)]
        adapter = build_adapter(scenario.settings())
        assert r.post_all(factory, clock, adapter) == 3
        # Approved after the worker ran: it never reaches SAP.
        scenario.missing = credit(900).credit_id
        # Someone reprices a memo request in SAP, and raises one by hand...
        [edited] = fake.by_reference(PREFIX + idempotency_key(posted[1].message_id))
        stored = fake.memo_requests[edited["CreditMemoRequest"]]
        stored["to_Item"][0]["to_PricingElement"][0]["ConditionRateValue"] = "11.01"
        scenario.untracked_ref = adapter.post_credit(
            _manual(sold_to, "manual-adjustment-1")
        ).external_ref
        # ...and one the month before, which the listing leaves out.
        clock.advance(-timedelta(days=31))
        adapter.post_credit(_manual(sold_to, "manual-adjustment-0"))
        clock.advance(timedelta(days=31))
        scenario.matched = [posted[0].credit_id, posted[2].credit_id]
        scenario.mismatched = posted[1].credit_id
        yield scenario


def test_every_kind_of_discrepancy_is_found(scenario: Scenario) -> None:
    counts, found = r.reconcile(
        scenario.factory,
        scenario.clock,
        system=BillingSystem.SAP,
        source=scenario.source(),
        start=START,
        end=END,
    )

    r.assert_one_of_each_kind(
        counts,
        found,
        missing=scenario.missing,
        mismatched=scenario.mismatched,
        untracked_ref=scenario.untracked_ref,
        untracked_key=PREFIX + "manual-adjustment-1",
    )


def test_the_listing_pages_with_top_and_skip(scenario: Scenario) -> None:
    pages = list(scenario.source(page_size=2).memos(START, END))

    assert [len(page) for page in pages] == [2, 2]
    memos = [memo for page in pages for memo in page]
    assert {m.account_ref for m in memos} == {scenario.sold_to}
    assert [m.created_on for m in memos] == [START + timedelta(days=5)] * 4
    counts, _ = r.reconcile(
        scenario.factory,
        scenario.clock,
        system=BillingSystem.SAP,
        source=scenario.source(page_size=2),
        start=START,
        end=END,
    )
    assert (counts["matched"], counts["mismatched"]) == (2, 1)


def test_a_gateways_next_links_are_followed(scenario: Scenario) -> None:
    scenario.fake.page_limit = 1
    try:
        pages = list(scenario.source(page_size=3).memos(START, END))
    finally:
        scenario.fake.page_limit = None

    assert [len(page) for page in pages] == [1, 1, 1, 1]
    refs = [page[0].external_ref for page in pages]
    assert refs == sorted(refs)


def test_source_for_reads_sap_only_when_configured(
    monkeypatch: pytest.MonkeyPatch, scenario: Scenario
) -> None:
    for name in ("BASE_URL", "USERNAME", "PASSWORD", "SALES_ORGANIZATION"):
        monkeypatch.delenv(f"CREDITDESK_SAP_{name}", raising=False)
    with pytest.raises(ValidationFailed) as refused:
        source_for("sap", scenario.factory)
    for name, value in {
        "BASE_URL": scenario.url,
        "USERNAME": scenario.fake.username,
        "PASSWORD": scenario.fake.password,
        "SALES_ORGANIZATION": "1010",
        "MATERIAL": "CREDIT-ADJ",
    }.items():
        monkeypatch.setenv(f"CREDITDESK_SAP_{name}", value)
    source = source_for("sap", scenario.factory)

    assert refused.value.issues[0].field == "system"
    assert isinstance(source, SapMemos)
    assert sum(len(page) for page in source.memos(START, END)) == 4
