"""Reconciling the fake Salesforce org's credit notes with our credits."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
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
from creditdesk.integrations.salesforce import fake
from creditdesk.integrations.salesforce.adapter import SalesforceAdapter
from creditdesk.integrations.salesforce.client import SalesforceClient
from creditdesk.integrations.salesforce.fake_org import LINE, NOTE, Org
from creditdesk.integrations.salesforce.memos import SalesforceMemos
from creditdesk.integrations.salesforce.settings import SalesforceSettings
from creditdesk.reconciliation.sources import source_for
from tests.integrations import reconcile_support as r

NOW = datetime(2024, 6, 5, 11, 0, tzinfo=UTC)
START, END = date(2024, 6, 1), date(2024, 6, 30)


@dataclass
class Scenario:
    factory: sessionmaker[Session]
    org: Org
    url: str
    clock: FrozenClock
    account_id: str
    matched: list[int]
    mismatched: int
    missing: int
    untracked_ref: str

    def settings(self, **overrides: Any) -> SalesforceSettings:
        values = {
            "login_url": self.url,
            "client_id": self.org.client_id,
            "client_secret": SecretStr(self.org.client_secret),
            "timeout_seconds": 0.5,
        } | overrides
        return SalesforceSettings(_env_file=None, **values)  # type: ignore[call-arg]

    def client(self) -> SalesforceClient:
        return SalesforceClient.connect(self.settings())

    def adapter(self, clock: FrozenClock) -> SalesforceAdapter:
        return SalesforceAdapter(self.client(), settings=self.settings(), clock=clock)

    def source(self) -> SalesforceMemos:
        return SalesforceMemos(self.settings(), client=self.client())


def _manual(account_id: str, key: str) -> PostingRequest:
    return PostingRequest(
        idempotency_key=key,
        credit_id=0,
        credit_number="-",
        account_number="-",
        external_account_id=account_id,
        amount_minor=777,
        currency="GBP",
        reason="goodwill",
        credit_type="goodwill",
        invoice_ref=None,
        memo_text="Adjustment raised by hand",
    )


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    org = Org()
    account_id = org.add_account()
    clock = FrozenClock(NOW)
    with (
        serve(fake.create_app(org)) as url,
        r.own_database(tmp_path_factory.mktemp("salesforce-recon")) as factory,
    ):
        scenario = Scenario(factory, org, url, clock, account_id, [], 0, 0, "")

        def credit(amount_minor: int) -> r.Approved:
            return r.approved_credit(
                factory,
                clock,
                system=BillingSystem.SALESFORCE,
                external_account_id=account_id,
                amount_minor=amount_minor,
            )

        posted = [credit(amount) for amount in (1_000, 1_100, 1_200)]
        adapter = scenario.adapter(clock)
        assert r.post_all(factory, clock, adapter) == 3
        # Approved after the worker ran: it never reaches Salesforce.
        scenario.missing = credit(900).credit_id
        # Someone changes a note's line in Salesforce, and raises one by hand...
        key = idempotency_key(posted[1].message_id)
        [note] = [n for n in org.rows(NOTE) if n[org.key_field] == key]
        with org.lock:
            for line in org.table(LINE).values():
                if line["blng__CreditNote__c"] == note["Id"]:
                    line["blng__Subtotal__c"] = Decimal("11.01")
        scenario.untracked_ref = adapter.post_credit(
            _manual(account_id, "manual-adjustment-1")
        ).external_ref
        # ...and one the month before, which the listing leaves out.
        earlier = FrozenClock(NOW - timedelta(days=31))
        scenario.adapter(earlier).post_credit(_manual(account_id, "manual-0"))
        scenario.matched = [posted[0].credit_id, posted[2].credit_id]
        scenario.mismatched = posted[1].credit_id
        yield scenario


def test_every_kind_of_discrepancy_is_found(scenario: Scenario) -> None:
    counts, found = r.reconcile(
        scenario.factory,
        scenario.clock,
        system=BillingSystem.SALESFORCE,
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
    )


def test_the_listing_follows_next_records_url(scenario: Scenario) -> None:
    scenario.org.query_batch_size = 2
    try:
        pages = list(scenario.source().memos(START, END))
        counts, _ = r.reconcile(
            scenario.factory,
            scenario.clock,
            system=BillingSystem.SALESFORCE,
            source=scenario.source(),
            start=START,
            end=END,
        )
    finally:
        scenario.org.query_batch_size = 2000

    assert [len(page) for page in pages] == [2, 2]
    memos = [memo for page in pages for memo in page]
    assert {m.account_ref for m in memos} == {scenario.account_id}
    assert {m.currency for m in memos} == {"GBP"}
    assert (counts["matched"], counts["mismatched"]) == (2, 1)
    assert scenario.org.query_cursors == {}


def test_a_single_currency_org_is_read_in_its_currency(scenario: Scenario) -> None:
    settings = scenario.settings(multi_currency=False, currency="GBP")
    source = SalesforceMemos(settings, client=scenario.client())

    assert "CurrencyIsoCode" not in source.soql(START, END)
    memos = [memo for page in source.memos(START, END) for memo in page]
    assert len(memos) == 4
    assert {m.currency for m in memos} == {"GBP"}


def test_source_for_reads_salesforce_only_when_configured(
    monkeypatch: pytest.MonkeyPatch, scenario: Scenario
) -> None:
    for name in ("LOGIN_URL", "CLIENT_ID", "CLIENT_SECRET"):
        monkeypatch.delenv(f"CREDITDESK_SALESFORCE_{name}", raising=False)
    with pytest.raises(ValidationFailed) as unset:
        source_for("salesforce", scenario.factory)
    monkeypatch.setenv("CREDITDESK_SALESFORCE_LOGIN_URL", scenario.url)
    monkeypatch.setenv("CREDITDESK_SALESFORCE_CLIENT_ID", scenario.org.client_id)
    monkeypatch.setenv(
        "CREDITDESK_SALESFORCE_CLIENT_SECRET", scenario.org.client_secret
    )
    monkeypatch.setenv("CREDITDESK_SALESFORCE_MULTI_CURRENCY", "false")
    with pytest.raises(ValidationFailed) as no_currency:
        source_for("salesforce", scenario.factory)
    monkeypatch.setenv("CREDITDESK_SALESFORCE_CURRENCY", "GBP")
    source = source_for("salesforce", scenario.factory)

    assert unset.value.issues[0].field == "system"
    assert "CREDITDESK_SALESFORCE_CURRENCY" in no_currency.value.issues[0].message
    assert isinstance(source, SalesforceMemos)
    assert sum(len(page) for page in source.memos(START, END)) == 4
