"""The case page, its search and the form that opens a case."""

import re

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.cases.models import Case
from tests.web.conftest import ClientFor
from tests.web.support import Desk, csrf_of


def test_the_case_page_shows_the_case_its_account_and_the_credit_form(
    client_for: ClientFor, desk: Desk
) -> None:
    page = client_for(desk.agent).get(f"/cases/{desk.case_id}")

    assert page.status_code == 200
    html = page.text
    assert "Overcharged by £10" in html
    assert desk.account_number in html
    assert "broadband since" in html
    assert "Amount (GBP)" in html
    # The amount field is where the agent starts typing.
    amount = re.search(r"<input id=\"amount\"[^>]*>", html, re.S).group(0)
    assert "autofocus" in amount
    assert '<label for="amount">' in html
    assert '<label for="justification">' in html
    # Types and reasons come from the active policy.
    assert '<option value="dispute">Billing dispute</option>' in html
    assert '<option value="overcharge">Overcharge</option>' in html
    assert 'name="idempotency_key"' in html
    assert 'aria-live="polite"' in html
    assert 'hx-post="/credits/preview"' in html


def test_each_render_of_the_form_has_its_own_idempotency_key(
    client_for: ClientFor, desk: Desk
) -> None:
    browser = client_for(desk.agent)
    first = browser.get(f"/cases/{desk.case_id}").text
    second = browser.get(f"/cases/{desk.case_id}").text
    key = re.compile(r'name="idempotency_key" value="([^"]+)"')
    assert key.search(first).group(1) != key.search(second).group(1)


def test_a_junior_agent_sees_the_case_but_no_credit_form(
    client_for: ClientFor, desk: Desk
) -> None:
    page = client_for(desk.junior).get(f"/cases/{desk.junior_case_id}")

    assert page.status_code == 200
    assert "Roaming charges disputed" in page.text
    assert 'id="credit-form"' not in page.text
    assert 'name="amount"' not in page.text


def test_a_case_of_another_team_is_a_404_page_worded_as_missing(
    client_for: ClientFor, desk: Desk
) -> None:
    hidden = client_for(desk.outsider).get(f"/cases/{desk.case_id}")
    missing = client_for(desk.outsider).get("/cases/999999999")

    assert hidden.status_code == missing.status_code == 404
    assert hidden.headers["content-type"].startswith("text/html")
    assert f"case {desk.case_id} does not exist" in hidden.text
    assert "Overcharged" not in hidden.text
    assert client_for(desk.outsider).get("/cases/abc").status_code == 404


def test_search_finds_visible_cases_by_number_subject_and_account(
    client_for: ClientFor, desk: Desk
) -> None:
    browser = client_for(desk.agent)
    number = f"CS-{desk.case_id:06d}"

    for query in (number, str(desk.case_id), "overcharged BY", desk.account_number):
        page = browser.get("/cases", params={"q": query})
        assert page.status_code == 200
        assert f'href="/cases/{desk.case_id}"' in page.text, query

    outsider = client_for(desk.outsider).get("/cases", params={"q": number})
    assert f'href="/cases/{desk.case_id}"' not in outsider.text
    assert "No case you may see matches" in outsider.text


def test_search_answers_htmx_with_the_results_only(
    client_for: ClientFor, desk: Desk
) -> None:
    page = client_for(desk.agent).get(
        "/cases", params={"q": desk.account_number}, headers={"HX-Request": "true"}
    )
    assert "<html" not in page.text
    assert f'href="/cases/{desk.case_id}"' in page.text


def test_search_treats_like_wildcards_as_text(
    client_for: ClientFor, desk: Desk
) -> None:
    page = client_for(desk.agent).get("/cases", params={"q": "%_%"})
    assert f'href="/cases/{desk.case_id}"' not in page.text


def test_opening_a_case_lands_on_its_page(
    client_for: ClientFor, desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    browser = client_for(desk.agent)
    form = browser.get(f"/cases/new?account={desk.account_number}").text
    assert f'value="{desk.account_number}"' in form

    response = browser.post(
        "/cases/new",
        data={
            "csrf_token": csrf_of(form),
            "account": desk.account_number.lower(),
            "subject": "Router fee charged after return",
            "type": "billing_dispute",
            "product": "broadband",
            "disputed_amount": "40.00",
        },
        follow_redirects=False,
    )

    assert response.status_code == 303
    case_id = int(response.headers["location"].rsplit("/", 1)[1])
    with session_factory() as session:
        case = session.get_one(Case, case_id)
    assert case.owner_id == desk.agent.id
    assert case.disputed_amount_minor == 4000
    landing = browser.get(response.headers["location"])
    assert f"Case {case.number} opened." in landing.text


def test_a_refused_case_form_shows_the_message_at_its_field(
    client_for: ClientFor, desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    browser = client_for(desk.agent)
    token = csrf_of(browser.get("/cases/new").text)
    with session_factory() as session:
        before = session.scalar(sa.select(sa.func.count()).select_from(Case))

    response = browser.post(
        "/cases/new",
        data={"csrf_token": token, "account": "NO-SUCH-ACCOUNT", "subject": "x"},
    )

    assert response.status_code == 422
    assert 'id="account-error"' in response.text
    assert "no account has the number NO-SUCH-ACCOUNT" in response.text
    assert 'aria-describedby="account-hint account-error"' in response.text
    assert 'value="x"' in response.text
    with session_factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == before


def test_opening_a_case_needs_the_csrf_token(client_for: ClientFor, desk: Desk) -> None:
    response = client_for(desk.agent).post(
        "/cases/new", data={"account": desk.account_number, "subject": "No token"}
    )
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
