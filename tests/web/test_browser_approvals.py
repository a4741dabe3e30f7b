"""The approvals inbox in a real browser: a £35 credit raised by an agent and
approved by the team lead from the inbox, without a page reload.

Saves (to browser.SCREENSHOTS) approvals.png, approval-item.png, approvals-phone.png
and delegations.png, which README.md shows.
"""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.web.browser import DESKTOP, PHONE, Console, screenshot
from tests.web.conftest import SignIn
from tests.web.test_browser import _case_id, _watch_console

pytestmark = pytest.mark.browser

SUBJECT = "Broadband outage for three days"
JUSTIFICATION = "Three days without broadband; SLA compensation for the outage."


def _raise_the_credit(page: Page, sign_in_as: SignIn, console: Console) -> str:
    """Alex raises £35 (over his £20 limit) and signs out; the number."""
    sign_in_as("alex.agent")
    page.goto(f"{console.url}/cases/{_case_id(console, SUBJECT)}")
    page.get_by_label("Amount (GBP)").fill("35.00")
    page.get_by_label("Type").select_option("sla")
    page.get_by_label("Reason").select_option("service_outage")
    page.get_by_label("Justification").fill(JUSTIFICATION)
    expect(page.locator("#preview")).to_contain_text("Tara Lindqvist")
    page.get_by_role("button", name="Raise the credit").click()
    page.wait_for_url(re.compile(r"/credits/\d+$"))
    expect(page.get_by_role("status")).to_contain_text("waiting for approval")
    number = page.get_by_role("heading", level=1).inner_text().split()[0]
    page.get_by_role("button", name="Sign out").click()
    return number


def test_a_35_pound_credit_is_approved_by_the_team_lead_from_the_inbox(
    page: Page, sign_in_as: SignIn, console: Console
) -> None:
    page.set_viewport_size(DESKTOP)
    errors = _watch_console(page)
    number = _raise_the_credit(page, sign_in_as, console)

    sign_in_as("tara.lead")
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Approvals"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Approvals")
    item = page.locator("article.work-item").filter(
        has=page.get_by_role("link", name=number, exact=True)
    )
    expect(item).to_contain_text("GBP 35.00")
    expect(item).to_contain_text(SUBJECT)
    expect(item).to_contain_text("Alex Moreno")
    expect(item).to_contain_text(re.compile(r"(left|Overdue by)"))
    screenshot(page, "approvals")

    item.get_by_role("link", name=number, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Approval of {number}")
    screenshot(page, "approval-item")
    page.set_viewport_size(PHONE)
    page.go_back()
    screenshot(page, "approvals-phone")
    page.set_viewport_size(DESKTOP)

    # A rejection without a comment is refused in place, the field focused.
    url = page.url
    item.get_by_role("button", name=f"Reject {number}").click()
    expect(item.locator(".field-error")).to_have_text("a rejection needs a comment")
    expect(item.get_by_label("Comment")).to_be_focused()
    # Until htmx has settled the swapped-in item its form is a plain one, and
    # Enter would submit it with a page load (which works, but is not what
    # this story checks); a loaded machine can take that long.
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )

    # Keyboard: from the comment field, Tab reaches Approve, Enter decides.
    item.get_by_label("Comment").fill("Outage confirmed by the network team.")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == f"Approve {number}"
    page.keyboard.press("Enter")

    done = page.get_by_role("status").filter(has_text=number)
    expect(done).to_have_text(f"{number} approved: the credit is now approved.")
    assert page.url == url  # htmx swapped the item; the page did not reload
    expect(done).to_be_focused()

    page.goto(f"{console.url}/approvals")
    expect(page.get_by_role("link", name=number, exact=True)).to_have_count(0)
    page.goto(f"{console.url}/credits/{number}")
    expect(page.locator("#credit-status")).to_have_text("Approved")
    expect(page.locator(".timeline")).to_contain_text("Tara Lindqvist")
    page.goto(f"{console.url}/approvals/delegations")
    expect(page.get_by_label("Who stands in for you")).to_contain_text("Maya")
    screenshot(page, "delegations")
    # The refused rejection's 422 is logged by the browser as any 4xx is.
    assert [e for e in errors if "status of 422" not in e] == []
