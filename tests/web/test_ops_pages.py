"""Billing operations in the console: failed postings and dead letters,
retrying and cancelling with the same effect and audit as the API, and
reconciliation runs with their findings and CSV.

The pages run on a billing-operations desk of their own (tests.outbox.desk):
its worker sees only its messages, so a failed posting really goes dead.
"""

import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from creditdesk.accounts.models import BillingSystem
from creditdesk.approvals.models import WorkItemStatus
from creditdesk.credits.models import CreditStatus, format_number
from creditdesk.outbox.models import OutboxStatus
from creditdesk.reconciliation.models import ReconciliationRun
from tests.outbox.desk import WHY, Desk, open_desk
from tests.web.support import Person, csrf_of, person_for, sign_in

CANCEL = "The customer closed the account; no credit is owed."
MARCH = {"system": "ledger", "from": "2024-03-01", "to": "2024-03-31"}


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    with open_desk(tmp_path_factory.mktemp("ops-pages")) as desk:
        yield desk


@pytest.fixture
def browser_as(desk: Desk) -> Iterator:
    """``browser_as("finance")``: a client signed in as one of the desk's org."""
    opened: list[TestClient] = []

    def make(who: str) -> TestClient:
        client = TestClient(desk.client.app, base_url="https://testserver")
        opened.append(client)
        sign_in(client, _person(desk, who))
        return client

    yield make
    for client in opened:
        client.close()


def _person(desk: Desk, who: str) -> Person:
    return person_for(desk.factory, getattr(desk.org, who))


def _act(
    browser: TestClient, message_id: int, action: str, comment: str, back: str = "/ops"
):
    token = csrf_of(browser.get("/").text)
    return browser.post(
        f"/ops/outbox/{message_id}/{action}",
        data={"csrf_token": token, "comment": comment, "next": back},
        follow_redirects=False,
    )


def _dead_letters(html: str) -> str:
    """The dead letters' section of the page (failed postings come first)."""
    return html.split('id="dead-heading"', 1)[1]


@pytest.mark.parametrize("who", ["agent", "junior", "lead", "manager", "auditor"])
def test_other_roles_get_403_and_change_nothing(
    desk: Desk, browser_as, who: str
) -> None:
    failed = desk.failed()
    browser = browser_as(who)

    answers = [
        browser.get("/ops"),
        browser.get(f"/ops/outbox/{failed.message_id}"),
        _act(browser, failed.message_id, "retry", WHY),
        _act(browser, failed.message_id, "cancel", CANCEL),
    ]

    assert [a.status_code for a in answers] == [403] * 4
    assert "You may not do that" in answers[0].text
    assert "Billing ops" not in browser.get("/").text
    assert desk.message(failed.message_id).status is OutboxStatus.DEAD


def test_failed_postings_and_dead_letters_are_listed(desk: Desk, browser_as) -> None:
    failed = desk.failed()
    applied = desk.applied()
    finance = browser_as("finance")

    page = finance.get("/ops")

    assert page.status_code == 200
    assert 'href="/ops" aria-current="page"' in page.text
    number = format_number(failed.credit_id)
    assert f'<a href="/credits/{failed.credit_id}">{number}</a>' in page.text
    assert f'href="/ops/outbox/{failed.message_id}"' in page.text
    tried = desk.message(failed.message_id).attempts
    plural = "attempt" if tried == 1 else "attempts"
    assert f"Dead, {tried} {plural}</span>" in page.text
    assert "&#39;zuora&#39; is not configured" in page.text
    # Every billing-operations member holds the handoff until one acts.
    assert desk.org.finance.display_name in page.text
    assert f"/ops/outbox/{applied.message_id}" not in page.text
    assert f'"/ops/outbox/{failed.message_id}">#' in _dead_letters(page.text)
    assert f'id="dead-comment-{failed.message_id}"' in page.text
    assert f'for="failed-comment-{failed.message_id}"' in page.text


def test_dead_letters_filter_by_topic(desk: Desk, browser_as) -> None:
    failed = desk.failed()
    finance = browser_as("admin")
    row = f'<a href="/ops/outbox/{failed.message_id}">#{failed.message_id}</a>'

    posts = finance.get("/ops", params={"topic": "credit.post"})
    voids = finance.get("/ops", params={"topic": "credit.void"})
    unknown = finance.get("/ops", params={"topic": "credit.lost"})

    assert row in _dead_letters(posts.text)
    assert '<option value="credit.post" selected>' in posts.text
    assert row not in _dead_letters(voids.text)
    assert "No dead letters for credit.void" in voids.text
    assert unknown.status_code == 422
    assert 'id="topic-error"' in unknown.text


def test_retrying_from_the_page_posts_the_credit_as_the_api_would(
    desk: Desk, browser_as
) -> None:
    failed = desk.failed()
    desk.set_system(failed, BillingSystem.LEDGER)
    finance = browser_as("finance")

    done = _act(finance, failed.message_id, "retry", WHY)

    assert (done.status_code, done.headers["location"]) == (303, "/ops")
    assert f"Message {failed.message_id} is queued again." in finance.get("/ops").text
    message = desk.message(failed.message_id)
    assert (message.status, message.attempts) == (OutboxStatus.PENDING, 0)
    [retried] = desk.audit("outbox_message", failed.message_id, "outbox.retried")
    assert (retried.actor_name, retried.channel, retried.reason) == (
        desk.org.finance.username,
        "web",
        WHY,
    )

    assert desk.drain() == 1
    assert desk.credit(failed).status is CreditStatus.APPLIED
    statuses = sorted(i.status for i in desk.handoffs(failed.credit_id))
    assert statuses == [WorkItemStatus.DONE, WorkItemStatus.NO_RESPONSE]


def test_cancelling_from_the_message_page_voids_the_credit(
    desk: Desk, browser_as
) -> None:
    failed = desk.failed()
    admin = browser_as("admin")
    back = f"/ops/outbox/{failed.message_id}"

    done = _act(admin, failed.message_id, "cancel", CANCEL, back=back)

    assert (done.status_code, done.headers["location"]) == (303, back)
    assert desk.message(failed.message_id).status is OutboxStatus.CANCELLED
    assert desk.credit(failed).status is CreditStatus.VOIDED
    [voided] = desk.audit("credit", failed.credit_id, "credit.voided")
    assert (voided.actor_name, voided.channel, voided.reason) == (
        desk.org.admin.username,
        "web",
        CANCEL,
    )
    assert not [i for i in desk.handoffs(failed.credit_id) if i.is_open]
    page = admin.get(back).text
    assert "Cancelled</span> · " in page and CANCEL in page
    assert "Nothing to do: it is cancelled." in page


@pytest.mark.parametrize("action", ["retry", "cancel"])
def test_a_reason_is_asked_for_next_to_the_field(
    desk: Desk, browser_as, action: str
) -> None:
    failed = desk.failed()
    finance = browser_as("finance")

    refused = _act(finance, failed.message_id, action, "   ")
    forged = finance.post(
        f"/ops/outbox/{failed.message_id}/{action}", data={"comment": WHY}
    )

    assert refused.status_code == 422
    field = f'id="message-comment-{failed.message_id}"'
    assert field in refused.text
    assert 'aria-invalid="true"' in refused.text
    assert f'id="message-comment-{failed.message_id}-error">say why' in refused.text
    assert forged.status_code == 403
    assert desk.message(failed.message_id).status is OutboxStatus.DEAD
    assert desk.credit(failed).status is CreditStatus.POSTING_FAILED


def test_a_delivered_message_is_shown_and_not_retried(desk: Desk, browser_as) -> None:
    applied = desk.applied()
    finance = browser_as("finance")

    page = finance.get(f"/ops/outbox/{applied.message_id}")
    refused = _act(finance, applied.message_id, "retry", WHY)
    missing = finance.get("/ops/outbox/987654321")

    assert page.status_code == 200
    assert f"&#34;credit_id&#34;: {applied.credit_id}" in page.text
    assert "Nothing to do: it is delivered." in page.text
    assert refused.status_code == 409
    assert "only a dead message can be retried" in refused.text
    assert missing.status_code == 404


def test_the_message_page_shows_payload_attempts_and_error(
    desk: Desk, browser_as
) -> None:
    failed = desk.failed()

    page = browser_as("finance").get(f"/ops/outbox/{failed.message_id}").text

    assert f"&#34;credit_id&#34;: {failed.credit_id}" in page
    attempts = re.search(r"<dt>Attempts</dt><dd>(\d+)</dd>", page)
    tried = desk.message(failed.message_id).attempts
    assert tried >= 1
    assert attempts and int(attempts.group(1)) == tried
    assert "&#39;zuora&#39; is not configured" in page
    assert f'<a href="/credits/{failed.credit_id}">' in page
    assert "Nobody has retried or cancelled it." in page


# --- Reconciliations ------------------------------------------------------------


def _start(browser: TestClient, **fields: str):
    token = csrf_of(browser.get("/ops/reconciliations").text)
    return browser.post(
        "/ops/reconciliations",
        data={"csrf_token": token, **MARCH, **fields},
        follow_redirects=False,
    )


def _runs(desk: Desk) -> int:
    with desk.factory() as session:
        return session.scalar(sa.select(sa.func.count(ReconciliationRun.id))) or 0


def test_a_run_is_started_listed_and_its_findings_shown(desk: Desk, browser_as) -> None:
    applied = desk.applied()
    waiting = desk.approved()  # approved in March, never posted: missing
    finance = browser_as("finance")

    started = _start(finance)
    assert started.status_code == 303, started.text
    run_id = int(started.headers["location"].rsplit("/", 1)[1])
    page = finance.get(f"/ops/reconciliations/{run_id}")
    assert page.status_code == 200
    assert f"Reconciliation {run_id} finished." in page.text

    again = int(_start(finance).headers["location"].rsplit("/", 1)[1])
    listing = finance.get("/ops/reconciliations").text
    assert listing.index(f"Run {again}<") < listing.index(f"Run {run_id}<")
    with desk.factory() as session:
        run = session.get_one(ReconciliationRun, run_id)
    assert run.missing >= 1 and run.matched >= 1
    assert f'<td class="num">{run.missing}</td>' in page.text
    missing = f'<a href="/credits/{waiting.credit_id}">'
    assert missing in page.text
    assert f'<a href="/credits/{applied.credit_id}">' not in page.text

    path = f"/ops/reconciliations/{run_id}"
    untracked = finance.get(path, params={"kind": "untracked"})
    assert missing not in untracked.text
    bad_kind = finance.get(path, params={"kind": "lost"})
    assert (bad_kind.status_code, 'id="kind-error"' in bad_kind.text) == (422, True)


def test_the_csv_is_the_apis_export(desk: Desk, browser_as) -> None:
    waiting = desk.approved()
    finance = browser_as("finance")
    run_id = int(_start(finance).headers["location"].rsplit("/", 1)[1])
    path = f"/reconciliations/{run_id}/findings.csv"

    page_csv = finance.get(f"/ops{path}", params={"kind": "missing"})
    api_csv = desk.get(path, "finance", kind="missing")

    assert page_csv.status_code == 200
    assert page_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in page_csv.headers["content-disposition"]
    assert page_csv.text == api_csv.text
    header, *rows = page_csv.text.splitlines()
    assert header.startswith("id,kind,credit_id")
    assert any(f",missing,{waiting.credit_id}," in row for row in rows)
    assert all(",missing," in row for row in rows)


def test_a_run_that_cannot_start_says_why_next_to_the_field(
    desk: Desk, browser_as
) -> None:
    finance = browser_as("finance")
    before = _runs(desk)

    unconfigured = _start(finance, system="zuora")
    backwards = _start(finance, **{"from": "2024-03-31", "to": "2024-03-01"})
    no_date = _start(finance, **{"to": ""})

    assert unconfigured.status_code == 422
    assert 'id="system-error">zuora is not configured here' in unconfigured.text
    assert '<option value="zuora" selected>' in unconfigured.text
    assert backwards.status_code == 422
    assert 'id="to-error">the period ends before it starts' in backwards.text
    assert no_date.status_code == 422
    assert 'id="to-error">enter a date' in no_date.text
    assert _runs(desk) == before


def test_auditors_read_runs_but_do_not_start_them(desk: Desk, browser_as) -> None:
    finance = browser_as("finance")
    run_id = int(_start(finance).headers["location"].rsplit("/", 1)[1])
    auditor = browser_as("auditor")
    agent = browser_as("agent")

    listing = auditor.get("/ops/reconciliations")
    token = csrf_of(auditor.get("/").text)
    refused = auditor.post("/ops/reconciliations", data={"csrf_token": token, **MARCH})

    assert listing.status_code == 200
    assert "Start the run" not in listing.text
    assert auditor.get(f"/ops/reconciliations/{run_id}").status_code == 200
    assert refused.status_code == 403
    assert agent.get("/ops/reconciliations").status_code == 403
    assert agent.get(f"/ops/reconciliations/{run_id}/findings.csv").status_code == 403


def test_finding_amounts_follow_the_readers_field_levels(
    desk: Desk, browser_as
) -> None:
    waiting = desk.approved(amount_minor=4_321)
    run_id = int(_start(browser_as("finance")).headers["location"].rsplit("/", 1)[1])
    path = "/api/v1/admin/field-permissions/auditor/credit/amount"
    hide = desk.client.put(
        path, json={"level": "hidden"}, headers=desk.org.auth("admin")
    )
    assert hide.status_code == 200, hide.text
    try:
        auditor = browser_as("auditor")
        masked = auditor.get(f"/ops/reconciliations/{run_id}").text
        export = auditor.get(f"/ops/reconciliations/{run_id}/findings.csv")
    finally:
        desk.client.delete(path, headers=desk.org.auth("admin"))
    full = browser_as("auditor").get(f"/ops/reconciliations/{run_id}").text

    assert f'<a href="/credits/{waiting.credit_id}">' in masked
    assert "43.21" not in masked and ">Ours<" not in masked
    assert "4321" not in masked
    # The CSV leaves the amount columns out for them.
    assert export.status_code == 200
    header, *rows = export.text.splitlines()
    assert "our_amount" not in header and "vendor_amount" not in header
    assert any(f",missing,{waiting.credit_id}," in row for row in rows)
    assert "43.21" not in export.text and "4321" not in export.text
    assert "GBP 43.21" in full and ">Ours<" in full and "findings.csv" in full
