"""The reports dashboard in a real browser: the charts render within the
CSP and the filters work by keyboard and form."""

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from creditdesk.credits.models import CreditStatus
from tests.reports.history import History
from tests.web.browser import DESKTOP, Console, screenshot
from tests.web.conftest import SignIn

pytestmark = pytest.mark.browser


def _recent_history(console: Console) -> None:
    # Credits over the last three months, some flagged, one needing approval.
    history = History.new(console.session_factory)
    today = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    for days, amount in ((80, 2500), (60, 1200), (45, 4800), (30, 900), (10, 3000)):
        day = today - timedelta(days=days)
        text = day.strftime("%Y-%m-%d %H:%M")
        posted = (day + timedelta(hours=2)).strftime("%Y-%m-%d %H:%M")
        for agent in (history.org.agent, history.agent_2):
            history.credit(
                by=agent,
                amount=amount,
                created=text,
                posted=posted,
                status=CreditStatus.APPLIED,
                near_duplicate=days == 45,
            )
        needing = history.credit(by=history.org.agent, amount=9000, created=text)
        history.request(needing, created=text)


def test_finance_reads_the_dashboard_and_narrows_it(
    page: Page, sign_in_as: SignIn, console: Console
) -> None:
    _recent_history(console)
    page.set_viewport_size(DESKTOP)
    errors: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", keep)
    sign_in_as("fin.finance")
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Reports"
    ).click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Reports")
    # The last 30 days by default; widened to the quarter written above.
    quarter = (datetime.now(UTC) - timedelta(days=89)).date().isoformat()
    page.get_by_label("From").fill(quarter)
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_label("From")).to_have_value(quarter)
    expect(page.locator("svg.chart")).to_have_count(5)
    expect(page.get_by_role("heading", name="Credits issued by team")).to_be_visible()
    screenshot(page, "reports")
    assert errors == []  # no script or style refused by the CSP

    page.get_by_label("Convert amounts to").fill("ZZZ")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#convert_to-error")).to_be_visible()
