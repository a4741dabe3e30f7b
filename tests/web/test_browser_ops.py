"""Billing operations and the audit log in a real browser: finance cancels a
failed posting with the keyboard, starts a reconciliation, and an auditor
searches the log and verifies the chain. Screenshots go to browser.SCREENSHOTS
(ops, reconciliation, audit), which README.md shows."""

import re

import pytest
from playwright.sync_api import Page, expect

from creditdesk.accounts.models import BillingSystem
from creditdesk.clock import system_clock
from creditdesk.credits.models import format_number
from tests.api_helpers import drain_outbox
from tests.billing.support import Approved, make_approved_credit
from tests.web.browser import DESKTOP, PHONE, Console, screenshot
from tests.web.conftest import SignIn

pytestmark = pytest.mark.browser


def _failed_postings(console: Console, count: int) -> list[Approved]:
    """Credits on accounts billed by Zuora, which is not configured here: the
    worker's first attempt fails for good and billing operations take over."""
    made = [
        make_approved_credit(
            console.session_factory,
            now=system_clock(),
            amount_minor=1_250 + 100 * index,
            system=BillingSystem.ZUORA,
        )
        for index in range(count)
    ]
    drain_outbox(console.session_factory, console.settings)
    return made


def _fits(page: Page) -> bool:
    # Wide tables scroll inside their own box; the page itself must not.
    return page.evaluate(
        "document.documentElement.scrollWidth <= window.innerWidth + 1"
    )


def test_finance_cancels_a_failed_posting_and_reconciles(
    page: Page, sign_in_as: SignIn, console: Console
) -> None:
    page.set_viewport_size(DESKTOP)
    kept, cancelled = _failed_postings(console, 2)
    sign_in_as("fin.finance")

    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Billing ops"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Billing operations")
    failed = page.get_by_role("table", name="Credits whose posting failed")
    expect(failed).to_contain_text("'zuora' is not configured")
    dead = page.get_by_role("table", name="Dead outbox messages, newest first")
    expect(dead.get_by_role("link", name=f"#{kept.message_id}")).to_be_visible()
    screenshot(page, "ops")

    # With the keyboard alone: the reason field, then Retry, then Cancel.
    reason = f"failed-comment-{cancelled.message_id}"
    page.locator(f"#{reason}").focus()
    page.keyboard.type("The customer left; no credit is owed.")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == f"Cancel message {cancelled.message_id}"
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text(
        f"Message {cancelled.message_id} is cancelled."
    )
    number = format_number(cancelled.credit_id)
    expect(failed.get_by_role("link", name=number)).to_have_count(0)
    expect(
        failed.get_by_role("link", name=format_number(kept.credit_id))
    ).to_be_visible()

    page.set_viewport_size(PHONE)
    assert _fits(page)
    page.set_viewport_size(DESKTOP)

    # Something to reconcile on the built-in ledger: one credit posted and
    # applied there (matched), one approved here and not posted yet (missing).
    ledger = {"now": system_clock(), "system": BillingSystem.LEDGER}
    make_approved_credit(console.session_factory, amount_minor=4_200, **ledger)
    drain_outbox(console.session_factory, console.settings)
    waiting = make_approved_credit(console.session_factory, amount_minor=990, **ledger)

    page.get_by_role("link", name="Reconciliations").click()
    page.get_by_label("Billing system", exact=True).select_option("ledger")
    page.get_by_role("button", name="Start the run").click()
    page.wait_for_url(re.compile(r"/ops/reconciliations/\d+$"))
    expect(page.get_by_role("status")).to_contain_text("finished")
    expect(page.locator("#run-status")).to_have_text("Completed")
    findings = page.get_by_role("table", name="Findings in the order they were found")
    expect(findings).to_contain_text(format_number(waiting.credit_id))
    screenshot(page, "reconciliation")


def test_an_auditor_searches_the_log_and_verifies_the_chain(
    page: Page, sign_in_as: SignIn, console: Console
) -> None:
    page.set_viewport_size(DESKTOP)
    sign_in_as("aud.auditor")

    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Audit"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")
    page.get_by_label("Record type").fill("credit")
    page.get_by_label("Record type").press("Enter")
    page.wait_for_url(re.compile(r"/audit\?entity_type=credit"))
    entries = page.locator(".audit-entry")
    expect(entries.first).to_contain_text("on credit")
    expect(entries.first.locator(".changes")).to_contain_text("→")

    page.get_by_role("button", name="Verify the chain").click()
    result = page.locator("#verify-result")
    expect(result).to_contain_text("The chain is intact.")
    expect(result).to_contain_text("entries checked")
    # The search stays as it was.
    expect(page.get_by_label("Record type")).to_have_value("credit")
    screenshot(page, "audit")

    page.set_viewport_size(PHONE)
    assert _fits(page)
