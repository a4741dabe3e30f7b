"""The home page, and answering a request for more information."""

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.access.service import actor_for
from creditdesk.actors import Actor, Channel
from creditdesk.config import Settings
from creditdesk.credits import decisions, lifecycle
from creditdesk.credits.models import BillingCredit, CreditStatus
from creditdesk.db import transaction
from creditdesk.users.models import User
from tests.factories import now
from tests.web.conftest import ClientFor
from tests.web.support import Desk, Person, csrf_of
from tests.web.test_credit_pages import _form


def _raise(client_for: ClientFor, desk: Desk, case_id: int, amount: str) -> int:
    browser = client_for(desk.agent)
    page = browser.get(f"/cases/{case_id}").text
    response = browser.post(
        f"/cases/{case_id}/credits",
        data=_form(page, case_id, amount),
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return int(response.headers["location"].rsplit("/", 1)[1])


def _ask_for_more(
    factory: sessionmaker[Session], settings: Settings, lead: Person, credit_id: int
) -> None:
    with transaction(factory) as session:
        user = session.get_one(User, lead.id)
        decisions.request_info(
            session,
            credit_id=credit_id,
            user=user,
            comment="Which invoice month was it?",
            actor=actor_for(user, Channel.API),
            now=now(),
            settings=settings,
        )


def test_home_lists_open_cases_and_credits_by_status(
    client_for: ClientFor, desk: Desk
) -> None:
    _raise(client_for, desk, desk.case_id, "10.00")
    _raise(client_for, desk, desk.outage_case_id, "35.00")

    html = client_for(desk.agent).get("/").text

    assert f'href="/cases/{desk.outage_case_id}"' in html
    assert "Broadband outage" in html
    assert '<td>Approved</td><td class="num">1</td>' in html
    assert '<td>Pending approval</td><td class="num">1</td>' in html
    assert "Approvals" not in html.split("</nav>")[1]


def test_an_approver_sees_how_many_approvals_wait_with_a_link_to_the_inbox(
    client_for: ClientFor, desk: Desk
) -> None:
    _raise(client_for, desk, desk.outage_case_id, "35.00")
    _raise(client_for, desk, desk.outage_case_id, "36.00")

    html = client_for(desk.lead).get("/").text

    assert "2 approvals wait for you." in html
    assert '<a href="/approvals">Open your approvals inbox</a>' in html


def test_more_information_is_answered_and_resubmitted_from_the_credit_page(
    client_for: ClientFor,
    desk: Desk,
    session_factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    credit_id = _raise(client_for, desk, desk.outage_case_id, "35.00")
    _ask_for_more(session_factory, settings, desk.lead, credit_id)
    browser = client_for(desk.agent)

    home = browser.get("/").text
    assert f'href="/credits/{credit_id}"' in home
    assert "more information asked" in home
    assert "Which invoice month was it?" in home

    page = browser.get(f"/credits/{credit_id}").text
    assert "Answer and resubmit" in page
    assert "More information requested" in page
    refused = browser.post(
        f"/credits/{credit_id}/resubmit",
        data={"csrf_token": csrf_of(page), "justification": "short"},
    )
    assert refused.status_code == 422
    assert 'id="justification-error"' in refused.text

    done = browser.post(
        f"/credits/{credit_id}/resubmit",
        data={
            "csrf_token": csrf_of(page),
            "amount": "15.00",
            "comment": "The March invoice; amount corrected.",
        },
    )

    assert done.status_code == 200
    assert "resubmitted" in done.text
    with session_factory() as session:
        credit = session.get_one(BillingCredit, credit_id)
    assert credit.amount_minor == 1500
    assert credit.status is CreditStatus.APPROVED


def test_pages_cost_the_same_queries_for_many_credits_as_for_few(
    client_for: ClientFor, desk: Desk, engine: Engine
) -> None:
    browser = client_for(desk.agent)

    def queries_for(path: str) -> int:
        counted = []

        def count(*_args: object) -> None:
            counted.append(1)

        event.listen(engine, "before_cursor_execute", count)
        try:
            assert browser.get(path).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(counted)

    _raise(client_for, desk, desk.outage_case_id, "1.00")
    few_case = queries_for(f"/cases/{desk.outage_case_id}")
    few_home = queries_for("/")
    for cents in range(2, 8):
        _raise(client_for, desk, desk.outage_case_id, f"1.0{cents}")

    assert queries_for(f"/cases/{desk.outage_case_id}") == few_case
    assert queries_for("/") == few_home


def test_the_timeline_shows_a_failed_posting_and_its_error(
    client_for: ClientFor, desk: Desk, session_factory: sessionmaker[Session]
) -> None:
    credit_id = _raise(client_for, desk, desk.junior_case_id, "10.00")
    worker = Actor.system(Channel.WORKER, name="worker-1")
    with transaction(session_factory) as session:
        credit = lifecycle.load_for_update(session, credit_id)
        lifecycle.start_posting(session, credit, actor=worker, now=now())
        lifecycle.transition(
            session,
            credit,
            CreditStatus.POSTING_FAILED,
            actor=worker,
            now=now(),
            last_error="the billing system refused the memo: invoice is closed",
        )

    for who in (desk.agent, desk.junior):
        page = client_for(who).get(f"/credits/{credit_id}").text
        assert "Posting to the billing system" in page
        assert "Posting failed" in page
        assert "Error: the billing system refused the memo: invoice is closed" in page
