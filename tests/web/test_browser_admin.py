"""The administrator's stories in a real browser: Chromium against the
served demo console. Screenshots go to browser.SCREENSHOTS."""

import re

import pytest
from playwright.sync_api import Page, expect

from creditdesk.policy import service
from tests.web.browser import DESKTOP, PHONE, Console, screenshot
from tests.web.conftest import SignIn

pytestmark = pytest.mark.browser


def _versions(console: Console) -> int:
    with console.session_factory() as session:
        return len(service.list_versions(session))


def test_an_admin_saves_an_invalid_policy_and_sees_the_error(
    page: Page, sign_in_as: SignIn, console: Console
) -> None:
    page.set_viewport_size(DESKTOP)
    sign_in_as("ada.admin")
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Admin"
    ).click()
    page.get_by_role("link", name="Policy", exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Policy versions")

    page.get_by_role("link", name="Edit the policy").click()
    editor = page.get_by_label("Policy document (YAML)")
    # Opening the editor installs the shipped default on a database without one.
    before = _versions(console)
    document = editor.input_value()
    editor.fill(document.replace('GBP: "1000.00"', 'GBP: "100.00"', 1))
    page.get_by_label("Why it changes (kept in the audit trail)").fill("Lower band")
    page.get_by_role("button", name="Save and activate").click()

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("nothing was saved")
    expect(alert).to_contain_text("approval_matrix.bands.1.up_to.GBP")
    expect(alert).to_contain_text(re.compile(r"Line \d+"))
    expect(editor).to_have_attribute("aria-invalid", "true")
    expect(editor).to_have_accessible_description(re.compile("bands must ascend"))
    # The diff says in words which line changed, not by colour alone.
    expect(page.locator(".diff-removed")).to_contain_text("Removed line")
    expect(page.locator(".diff-added")).to_contain_text('GBP: "100.00"')
    assert _versions(console) == before
    screenshot(page, "admin-policy")
    page.set_viewport_size(PHONE)
    screenshot(page, "admin-policy-phone")


def test_an_admin_adds_a_user_with_the_keyboard(
    page: Page, sign_in_as: SignIn, console: Console
) -> None:
    page.set_viewport_size(DESKTOP)
    sign_in_as("ada.admin")
    page.goto(f"{console.url}/admin/users/new")
    keyboard = page.keyboard

    # The username field has the focus; the fields follow in reading order.
    expect(page.get_by_label("Username")).to_be_focused()
    keyboard.type("Nia Okafor")
    keyboard.press("Tab")
    keyboard.type("Nia Okafor")
    keyboard.press("Enter")
    expect(page.get_by_label("Username")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#username-error")).to_contain_text("a username is 3 to 64")

    page.get_by_label("Username").fill("nia.okafor")
    page.get_by_label("Manager").fill("tara.lead")
    page.get_by_label("Manager").press("Enter")
    expect(page.get_by_role("status")).to_have_text("User nia.okafor added.")

    page.goto(f"{console.url}/admin/users")
    expect(page.get_by_role("link", name="nia.okafor")).to_be_visible()
    screenshot(page, "admin-users")


def test_an_admin_hides_a_field_from_a_role_and_resets_it(
    page: Page, sign_in_as: SignIn, console: Console
) -> None:
    page.set_viewport_size(DESKTOP)
    sign_in_as("ada.admin")
    page.goto(f"{console.url}/admin/fields")

    # Each level in the matrix leads to the form with its role and field chosen.
    page.get_by_role(
        "link", name=re.compile(r"^Finance, Credit last error: read")
    ).click()
    expect(page.get_by_label("Field", exact=True)).to_have_value("credit.last_error")
    page.get_by_label("Level", exact=True).select_option("hidden")
    page.get_by_role("button", name="Set the level").click()

    expect(page.get_by_role("status")).to_have_text(
        "Finance now has hidden on credit last error."
    )
    cell = page.get_by_role("link", name=re.compile(r"^Finance, Credit last error"))
    expect(cell).to_have_accessible_name(re.compile("hidden, set here"))
    screenshot(page, "admin-fields")

    page.get_by_role("button", name=re.compile("^Reset Finance")).click()
    expect(
        page.get_by_text("None: every role has the built-in defaults.")
    ).to_be_visible()
