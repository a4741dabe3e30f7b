"""Raising a credit from the case page, the live preview and the credit page."""

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.audit.models import AuditEntry
from creditdesk.cases.models import Case, CaseStatus
from creditdesk.config import Settings
from creditdesk.credits.models import BillingCredit, CreditStatus
from tests.api_helpers import drain_outbox
from tests.web.conftest import ClientFor
from tests.web.support import Desk, csrf_of, idempotency_key_of

JUSTIFICATION = "Customer was billed £10 above the agreed monthly price."


def _form(page: str, case_id: int, amount: str, **changes: str) -> dict[str, str]:
    form = {
        "csrf_token": csrf_of(page),
        "idempotency_key": idempotency_key_of(page),
        "case_id": str(case_id),
        "amount": amount,
        "type": "dispute",
        "reason": "overcharge",
        "justification": JUSTIFICATION,
        "product": "broadband",
        "invoice_ref": "",
    }
    form.update(changes)
    return form


def _preview(browser: TestClient, page: str, case_id: int, amount: str) -> str:
    form = _form(page, case_id, amount)
    token = form.pop("csrf_token")
    response = browser.post(
        "/credits/preview",
        data=form,
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    assert response.status_code == 200, response.text
    assert "<html" not in response.text
    return response.text


def _credits_on(factory: sessionmaker[Session], case_id: int) -> list[BillingCredit]:
    with factory() as session:
        return list(
            session.scalars(
                sa.select(BillingCredit).where(BillingCredit.case_id == case_id)
            )
        )


def test_the_preview_says_approved_at_once_for_ten_pounds(
    client_for: ClientFor, desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    browser = client_for(desk.agent)
    page = browser.get(f"/cases/{desk.case_id}").text

    fragment = _preview(browser, page, desk.case_id, "10.00")

    assert "Approved at once" in fragment
    assert "within the auto-approval limit" in fragment
    assert _credits_on(session_factory, desk.case_id) == []


def test_the_preview_names_the_approver_and_the_refusing_rule(
    client_for: ClientFor, desk: Desk
) -> None:
    browser = client_for(desk.agent)
    case_id = desk.outage_case_id
    page = browser.get(f"/cases/{case_id}").text

    pending = _preview(browser, page, case_id, "35.00")
    assert f"Needs approval by {desk.lead.display_name} (team lead)" in pending

    chain = _preview(browser, page, case_id, "260.00")
    assert (
        f"Needs approval by {desk.lead.display_name} (team lead), then the finance team"
    ) in chain

    refused = _preview(browser, page, case_id, "6000.00")
    assert "Refused: " in refused

    over_dispute = _preview(browser, page, desk.case_id, "35.00")
    assert "Refused: Amount GBP 35.00 exceeds the disputed amount" in over_dispute

    nothing = _preview(browser, page, case_id, "")
    assert "Enter an amount" in nothing
    bad = _preview(browser, page, case_id, "ten")
    assert "amount" in bad.lower()


def test_the_preview_judges_while_the_justification_is_still_short(
    client_for: ClientFor, desk: Desk
) -> None:
    browser = client_for(desk.agent)
    page = browser.get(f"/cases/{desk.case_id}").text
    form = _form(page, desk.case_id, "10.00", justification="Too short")
    token = form.pop("csrf_token")

    fragment = browser.post(
        "/credits/preview", data=form, headers={"X-CSRF-Token": token}
    ).text

    assert "Approved at once" in fragment


def test_the_preview_needs_the_csrf_header(client_for: ClientFor, desk: Desk) -> None:
    browser = client_for(desk.agent)
    page = browser.get(f"/cases/{desk.case_id}").text
    form = _form(page, desk.case_id, "10.00")
    del form["csrf_token"]

    assert browser.post("/credits/preview", data=form).status_code == 403


def test_submitting_raises_one_credit_even_when_submitted_twice(
    client_for: ClientFor, desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    browser = client_for(desk.agent)
    page = browser.get(f"/cases/{desk.case_id}").text
    form = _form(page, desk.case_id, "10.00")

    first = browser.post(
        f"/cases/{desk.case_id}/credits", data=form, follow_redirects=False
    )
    again = browser.post(
        f"/cases/{desk.case_id}/credits", data=form, follow_redirects=False
    )

    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    (credit,) = _credits_on(session_factory, desk.case_id)
    assert first.headers["location"] == f"/credits/{credit.id}"
    assert credit.amount_minor == 1000
    assert credit.status is CreditStatus.APPROVED
    landing = browser.get(first.headers["location"])
    assert "Credit raised: approved at once." in landing.text
    with session_factory() as session:
        channel = session.scalar(
            sa.select(AuditEntry.channel).where(
                AuditEntry.action == "credit.requested",
                AuditEntry.entity_id == str(credit.id),
            )
        )
    assert channel == "web"


def test_a_refused_form_is_shown_again_with_the_message_at_the_field(
    client_for: ClientFor, desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    browser = client_for(desk.agent)
    page = browser.get(f"/cases/{desk.case_id}").text
    form = _form(page, desk.case_id, "10.00", justification="Too short")

    response = browser.post(f"/cases/{desk.case_id}/credits", data=form)

    assert response.status_code == 422
    assert 'id="justification-error"' in response.text
    assert "at least 20 characters" in response.text
    assert 'aria-describedby="justification-hint justification-error"' in response.text
    assert 'value="10.00"' in response.text
    assert ">Too short</textarea>" in response.text
    assert _credits_on(session_factory, desk.case_id) == []


def test_raising_needs_the_csrf_token(
    client_for: ClientFor, desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    browser = client_for(desk.agent)
    page = browser.get(f"/cases/{desk.case_id}").text
    form = _form(page, desk.case_id, "10.00")
    form["csrf_token"] = "forged"

    response = browser.post(f"/cases/{desk.case_id}/credits", data=form)

    assert response.status_code == 403
    assert _credits_on(session_factory, desk.case_id) == []


def test_the_credit_page_tells_the_story_to_applied_and_case_resolved(
    client_for: ClientFor,
    desk: Desk,
    session_factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    browser = client_for(desk.agent)
    page = browser.get(f"/cases/{desk.case_id}").text
    raised = browser.post(
        f"/cases/{desk.case_id}/credits", data=_form(page, desk.case_id, "10.00")
    )
    assert "Requested" in raised.text
    assert "Approved at once by the policy" in raised.text
    assert "amount.within_auto_limit" in raised.text

    drain_outbox(session_factory, settings)
    credit_page = browser.get(str(raised.url)).text

    assert "Applied by the billing system" in credit_page
    assert "Case resolved" in credit_page
    assert "GBP 10.00" in credit_page
    assert JUSTIFICATION in credit_page
    with session_factory() as session:
        assert session.get_one(Case, desk.case_id).status is CaseStatus.RESOLVED


def test_a_junior_agent_finds_no_amount_or_justification_anywhere(
    client_for: ClientFor,
    desk: Desk,
    session_factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    agent = client_for(desk.agent)
    page = agent.get(f"/cases/{desk.junior_case_id}").text
    secret = "Goodwill for the roaming bundle that was never applied."
    agent.post(
        f"/cases/{desk.junior_case_id}/credits",
        data=_form(page, desk.junior_case_id, "12.34", justification=secret),
    )
    drain_outbox(session_factory, settings)
    (credit,) = _credits_on(session_factory, desk.junior_case_id)

    junior = client_for(desk.junior)
    pages = [
        junior.get("/"),
        junior.get(f"/cases/{desk.junior_case_id}"),
        junior.get(f"/credits/{credit.id}"),
        junior.get(f"/credits/{credit.number}"),
    ]

    for response in pages:
        assert response.status_code == 200
        assert "12.34" not in response.text
        assert secret not in response.text
        assert "Goodwill for the roaming" not in response.text
    assert credit.number in pages[2].text
    assert "Applied by the billing system" in pages[2].text


def test_a_credit_of_another_team_is_a_404_page(
    client_for: ClientFor, desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    agent = client_for(desk.agent)
    page = agent.get(f"/cases/{desk.case_id}").text
    agent.post(
        f"/cases/{desk.case_id}/credits", data=_form(page, desk.case_id, "10.00")
    )
    (credit,) = _credits_on(session_factory, desk.case_id)

    response = client_for(desk.outsider).get(f"/credits/{credit.id}")

    assert response.status_code == 404
    assert f"credit {credit.id} does not exist" in response.text
    assert client_for(desk.outsider).get("/credits/BC-nonsense").status_code == 404


def test_the_agent_recalls_a_credit_waiting_for_approval(
    client_for: ClientFor, desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    browser = client_for(desk.agent)
    case_id = desk.outage_case_id
    page = browser.get(f"/cases/{case_id}").text
    raised = browser.post(
        f"/cases/{case_id}/credits", data=_form(page, case_id, "35.00")
    )
    assert "Credit raised: waiting for approval." in raised.text
    assert f"waiting for {desk.lead.display_name}" in raised.text
    assert 'action="/credits/' in raised.text

    (credit,) = _credits_on(session_factory, case_id)
    recalled = browser.post(
        f"/credits/{credit.id}/recall",
        data={"csrf_token": csrf_of(raised.text), "comment": "Customer withdrew"},
    )

    assert recalled.status_code == 200
    assert f"Credit {credit.number} recalled." in recalled.text
    assert "Recall this credit" not in recalled.text
    (credit,) = _credits_on(session_factory, case_id)
    assert credit.status is CreditStatus.RECALLED


def test_recalling_twice_is_a_409_page(
    client_for: ClientFor, desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    browser = client_for(desk.agent)
    case_id = desk.outage_case_id
    page = browser.get(f"/cases/{case_id}").text
    raised = browser.post(
        f"/cases/{case_id}/credits", data=_form(page, case_id, "35.00")
    )
    (credit,) = _credits_on(session_factory, case_id)
    token = {"csrf_token": csrf_of(raised.text)}
    browser.post(f"/credits/{credit.id}/recall", data=token)

    again = browser.post(f"/credits/{credit.id}/recall", data=token)

    assert again.status_code == 409
    assert again.headers["content-type"].startswith("text/html")
    assert "only a credit awaiting approval can be recalled" in again.text
