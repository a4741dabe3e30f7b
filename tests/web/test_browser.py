"""The agent's stories in a real browser: Chromium against the served console.

Each test also saves a screenshot of the pages it reaches to
data/screenshots/ (see browser.SCREENSHOTS), the pictures README.md shows.
"""

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import ConsoleMessage, Page, expect

from creditdesk.cases.models import Case
from creditdesk.demo.service import DEMO_PASSWORD
from tests.api_helpers import drain_outbox
from tests.web.browser import DESKTOP, PHONE, Console, screenshot
from tests.web.conftest import SignIn

pytestmark = pytest.mark.browser

JUSTIFICATION = "The customer was billed £10 above the agreed monthly price."


def _case_id(console: Console, subject: str) -> int:
    with console.session_factory() as session:
        return session.scalars(
            sa.select(Case.id).where(Case.subject == subject).order_by(Case.id)
        ).first()


def _watch_console(page: Page) -> list[str]:
    # A script refused by the CSP, or any other script error, shows up here.
    errors: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", keep)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def test_the_ten_pound_story_clicked_through(
    page: Page, sign_in_as: SignIn, console: Console
) -> None:
    page.set_viewport_size(DESKTOP)
    errors = _watch_console(page)
    page.goto(f"{console.url}/sign-in")
    screenshot(page, "sign-in")

    sign_in_as("alex.agent")
    expect(page.get_by_role("heading", name="Hello, Alex Moreno")).to_be_visible()
    screenshot(page, "home")

    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Cases"
    ).click()
    page.get_by_label("Find a case").fill("overcharged")
    row = page.get_by_role("row").filter(has_text="Overcharged by £10")
    expect(row).to_have_count(1)
    screenshot(page, "cases")
    row.get_by_role("link").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Overcharged by £10")
    page.get_by_label("Amount (GBP)").fill("10.00")
    page.get_by_label("Type").select_option("dispute")
    page.get_by_label("Reason").select_option("overcharge")
    page.get_by_label("Justification").fill(JUSTIFICATION)
    expect(page.locator("#justification-count")).to_contain_text(
        f"{len(JUSTIFICATION)} of 4000 characters"
    )
    expect(page.locator("#preview")).to_contain_text("Approved at once")
    screenshot(page, "case")
    page.set_viewport_size(PHONE)
    screenshot(page, "case-phone")
    page.set_viewport_size(DESKTOP)

    page.get_by_role("button", name="Raise the credit").click()
    page.wait_for_url(re.compile(r"/credits/\d+$"))
    expect(page.get_by_role("status")).to_contain_text("approved at once")

    drain_outbox(console.session_factory, console.settings)
    page.reload()
    timeline = page.locator(".timeline")
    expect(timeline).to_contain_text("Applied by the billing system")
    expect(timeline).to_contain_text("Case resolved")
    expect(page.locator("#credit-status")).to_have_text("Applied")
    screenshot(page, "credit")
    assert errors == []


def test_a_junior_agent_finds_no_amount_or_justification_in_any_page(
    page: Page, sign_in_as: SignIn, console: Console
) -> None:
    page.set_viewport_size(DESKTOP)
    case_id = _case_id(console, "Roaming charges disputed")
    secret = "Roaming bundle was never applied; goodwill agreed on the call."
    sign_in_as("alex.agent")
    page.goto(f"{console.url}/cases/{case_id}")
    page.get_by_label("Amount (GBP)").fill("12.34")
    page.get_by_label("Type").select_option("goodwill")
    page.get_by_label("Reason").select_option("goodwill")
    page.get_by_label("Justification").fill(secret)
    page.get_by_role("button", name="Raise the credit").click()
    page.wait_for_url(re.compile(r"/credits/\d+$"))
    credit_url = page.url
    drain_outbox(console.session_factory, console.settings)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")

    sign_in_as("jade.junior")
    for url in (f"{console.url}/", f"{console.url}/cases/{case_id}", credit_url):
        page.goto(url)
        html = page.content()
        assert "12.34" not in html, url
        assert "12,34" not in html, url
        assert secret not in html, url
        assert "Roaming bundle was never" not in html, url
    expect(page.locator(".timeline")).to_contain_text("Applied by the billing system")
    expect(page.get_by_label("Amount (GBP)")).to_have_count(0)


def test_a_credit_is_entered_with_the_keyboard_alone(
    page: Page, console: Console
) -> None:
    page.set_viewport_size(DESKTOP)
    case_id = _case_id(console, "Broadband outage for three days")
    keyboard = page.keyboard

    page.goto(f"{console.url}/sign-in?next=/cases/{case_id}")
    # The username field takes the focus by itself; typing before it has
    # (a loaded machine) would lose the first keys.
    expect(page.get_by_label("Username")).to_be_focused()
    keyboard.type("alex.agent")
    keyboard.press("Tab")
    keyboard.type(DEMO_PASSWORD)
    keyboard.press("Enter")
    page.wait_for_url(f"{console.url}/cases/{case_id}")

    # The amount field takes the focus once loaded; the fields follow in
    # reading order.
    expect(page.locator("#amount")).to_be_focused()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    keyboard.type("5.00")
    keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "type"
    keyboard.type("SLA")
    keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "reason"
    keyboard.type("Service outage")
    keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "justification"
    keyboard.type("Three days without broadband; SLA compensation agreed.")
    expect(page.locator("#preview")).to_contain_text("Approved at once")
    for expected in ("product", "invoice_ref"):
        keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == expected
    keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Raise the credit"
    keyboard.press("Enter")

    page.wait_for_url(re.compile(r"/credits/\d+$"))
    expect(page.get_by_role("status")).to_contain_text("approved at once")
    details = page.locator("dl.facts").first
    expect(details).to_contain_text("GBP 5.00")
    expect(details).to_contain_text("SLA compensation")
    expect(details).to_contain_text("Service outage")


def test_the_skip_link_is_the_first_stop_and_the_open_case_form(
    page: Page, sign_in_as: SignIn, console: Console
) -> None:
    page.set_viewport_size(DESKTOP)
    sign_in_as("sam.agent")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    page.goto(f"{console.url}/cases/new?account=DEMO-1005")
    # Autofocus lands once the page has loaded: wait for it, not a snapshot.
    expect(page.locator("#subject")).to_be_focused()
    screenshot(page, "new-case")
