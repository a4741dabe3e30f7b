"""Reconciling the fake Zuora tenant's credit memos with our credits."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.accounts.models import BillingSystem
from creditdesk.billing.tasks import idempotency_key
from creditdesk.clock import FrozenClock
from creditdesk.errors import ValidationFailed
from creditdesk.integrations.fakes.server import Fault
from creditdesk.integrations.zuora.adapter import build_client
from creditdesk.integrations.zuora.memos import ZuoraMemos
from creditdesk.integrations.zuora.settings import get_zuora_settings
from creditdesk.reconciliation.models import ReconciliationRun, RunStatus
from creditdesk.reconciliation.service import BillingSystemFailed
from creditdesk.reconciliation.sources import source_for
from tests.integrations import reconcile_support as r
from tests.integrations import zuora_support as z

START, END = date(2024, 4, 1), date(2024, 4, 30)


@dataclass
class Scenario:
    factory: sessionmaker[Session]
    tenant: z.Tenant
    clock: FrozenClock
    matched: list[int]
    mismatched: int
    missing: int
    untracked_ref: str


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    with (
        z.running_tenant() as tenant,
        r.own_database(tmp_path_factory.mktemp("zuora-recon")) as factory,
    ):
        clock = FrozenClock(z.FAKE_START)
        account = tenant.account()

        def credit(amount_minor: int) -> r.Approved:
            return r.approved_credit(
                factory,
                clock,
                system=BillingSystem.ZUORA,
                external_account_id=account.number,
                amount_minor=amount_minor,
            )

        posted = [credit(amount) for amount in (1_000, 1_100, 1_200)]
        adapter = z.connect(tenant.url, clock).adapter
        assert r.post_all(factory, clock, adapter) == 3
        # Approved after the worker ran: it never reaches Zuora.
        missing = credit(900)
        # Someone edits a memo at Zuora, and raises one by hand...
        [edited] = tenant.fake.memos_with_key(idempotency_key(posted[1].message_id))
        edited.amount += Decimal("0.01")
        manual = adapter.post_credit(
            z.request(account, amount_minor=777, key="manual-adjustment-1")
        )
        # ...and one a month before the period, which the listing leaves out.
        earlier = FrozenClock(z.FAKE_START - timedelta(days=30))
        z.connect(tenant.url, earlier).adapter.post_credit(z.request(account))
        yield Scenario(
            factory,
            tenant,
            clock,
            [posted[0].credit_id, posted[2].credit_id],
            posted[1].credit_id,
            missing.credit_id,
            manual.external_ref,
        )


def _source(
    tenant: z.Tenant, page_size: int = 99, waits: list[float] | None = None
) -> ZuoraMemos:
    settings = z.settings_for(tenant.url)
    client = build_client(settings, sleep=(waits if waits is not None else []).append)
    return ZuoraMemos(settings, client=client, page_size=page_size)


def test_every_kind_of_discrepancy_is_found(scenario: Scenario) -> None:
    counts, found = r.reconcile(
        scenario.factory,
        scenario.clock,
        system=BillingSystem.ZUORA,
        source=_source(scenario.tenant),
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


def test_the_listing_pages_oldest_first(scenario: Scenario) -> None:
    pages = list(_source(scenario.tenant, page_size=2).memos(START, END))

    assert [len(page) for page in pages] == [2, 2]
    days = [memo.created_on for page in pages for memo in page]
    assert days == sorted(days)
    counts, _ = r.reconcile(
        scenario.factory,
        scenario.clock,
        system=BillingSystem.ZUORA,
        source=_source(scenario.tenant, page_size=2),
        start=START,
        end=END,
    )
    assert (counts["matched"], counts["mismatched"]) == (2, 1)


def test_a_memo_carries_the_account_number_and_the_key(scenario: Scenario) -> None:
    [memo, *_] = next(_source(scenario.tenant).memos(START, END))

    [at_zuora] = [
        m for m in scenario.tenant.fake.memos if m.number == memo.external_ref
    ]
    assert memo.account_ref == at_zuora.account.number
    assert memo.idempotency_key == at_zuora.custom["IdempotencyKey__c"]
    assert memo.currency == "GBP"


def test_source_for_reads_zuora_only_when_configured(
    monkeypatch: pytest.MonkeyPatch, scenario: Scenario
) -> None:
    for name in ("BASE_URL", "CLIENT_ID", "CLIENT_SECRET"):
        monkeypatch.delenv(f"CREDITDESK_ZUORA_{name}", raising=False)
    get_zuora_settings.cache_clear()
    try:
        with pytest.raises(ValidationFailed) as refused:
            source_for("zuora", scenario.factory)
        monkeypatch.setenv("CREDITDESK_ZUORA_BASE_URL", scenario.tenant.url)
        monkeypatch.setenv("CREDITDESK_ZUORA_CLIENT_ID", "creditdesk")
        monkeypatch.setenv("CREDITDESK_ZUORA_CLIENT_SECRET", "s3cret")
        get_zuora_settings.cache_clear()
        source = source_for("zuora", scenario.factory)
    finally:
        get_zuora_settings.cache_clear()

    assert refused.value.issues[0].field == "system"
    assert isinstance(source, ZuoraMemos)
    assert sum(len(page) for page in source.memos(START, END)) == 4


def test_a_tenant_that_stays_down_fails_the_run_with_a_502(
    scenario: Scenario,
) -> None:
    waits: list[float] = []
    scenario.tenant.fake.faults.add(
        Fault("GET", "/object-query/credit-memos", status=503, times=3)
    )
    with pytest.raises(BillingSystemFailed) as failed:
        r.reconcile(
            scenario.factory,
            scenario.clock,
            system=BillingSystem.ZUORA,
            source=_source(scenario.tenant, waits=waits),
            start=START,
            end=END,
        )

    assert failed.value.status == 502
    assert len(waits) == 2
    with scenario.factory() as session:
        run = session.get_one(ReconciliationRun, failed.value.extra["run_id"])
    assert run.status == RunStatus.FAILED
    assert "503" in (run.error or "")
