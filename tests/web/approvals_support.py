"""Helpers for the approvals page tests: raising credits through the
console, finding work items, reading an item's card, deciding and
reassigning."""

import re

import sqlalchemy as sa
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.access.service import actor_for
from creditdesk.actors import Channel
from creditdesk.approvals import actions
from creditdesk.approvals.models import WorkItem, WorkItemStatus
from creditdesk.audit.models import AuditEntry
from creditdesk.config import Settings
from creditdesk.credits.models import BillingCredit
from creditdesk.db import transaction
from creditdesk.users.models import User
from tests.factories import now
from tests.web.conftest import ClientFor
from tests.web.support import Person, csrf_of
from tests.web.test_credit_pages import _form


def raise_credit(
    client_for: ClientFor, agent: Person, case_id: int, amount: str
) -> int:
    """``agent`` raises a credit of ``amount`` through the case page; its id."""
    browser = client_for(agent)
    page = browser.get(f"/cases/{case_id}").text
    response = browser.post(
        f"/cases/{case_id}/credits",
        data=_form(page, case_id, amount),
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return int(response.headers["location"].rsplit("/", 1)[1])


def pending_item(factory: sessionmaker[Session], credit_id: int, who: Person) -> int:
    """The id of the credit's pending work item that ``who`` holds."""
    with factory() as session:
        item_id = session.scalar(
            sa.select(WorkItem.id).where(
                WorkItem.credit_id == credit_id,
                WorkItem.assignee_id == who.id,
                WorkItem.status == WorkItemStatus.PENDING,
            )
        )
    assert item_id is not None
    return item_id


def credit_of(factory: sessionmaker[Session], credit_id: int) -> BillingCredit:
    with factory() as session:
        return session.get_one(BillingCredit, credit_id)


def item_of(factory: sessionmaker[Session], item_id: int) -> WorkItem:
    with factory() as session:
        return session.get_one(WorkItem, item_id)


def entries_of(factory: sessionmaker[Session], credit_id: int) -> list[AuditEntry]:
    with factory() as session:
        return list(
            session.scalars(
                sa.select(AuditEntry)
                .where(
                    AuditEntry.entity_type == "credit",
                    AuditEntry.entity_id == str(credit_id),
                )
                .order_by(AuditEntry.seq)
            )
        )


def card_of(html: str, item_id: int) -> str:
    """The item's ``<article>`` on a page (so assertions see only its card)."""
    found = re.search(rf'<article[^>]*id="item-{item_id}".*?</article>', html, re.S)
    assert found, f"item {item_id} is not on the page"
    return found.group(0)


def decide(
    browser: TestClient, item_id: int, decision: str, comment: str = "", **extra: str
) -> Response:
    """Post the inbox's decision form for ``item_id``, as a browser would."""
    page = browser.get("/approvals").text
    data = {"csrf_token": csrf_of(page), "decision": decision, "comment": comment}
    return browser.post(
        f"/approvals/{item_id}/decide",
        data=data | extra,
        follow_redirects=False,
    )


def post_form(
    browser: TestClient, page_path: str, path: str, data: dict[str, str]
) -> Response:
    """Post ``data`` to ``path`` with the CSRF token of the page at ``page_path``."""
    token = csrf_of(browser.get(page_path).text)
    return browser.post(path, data={"csrf_token": token} | data, follow_redirects=False)


def reassign(
    factory: sessionmaker[Session],
    settings: Settings,
    by: Person,
    item_id: int,
    to: Person,
    comment: str | None = None,
) -> WorkItem:
    """``by`` moves the item to ``to`` through the service (channel api)."""
    with transaction(factory) as session:
        user = session.get_one(User, by.id)
        return actions.reassign(
            session,
            item_id=item_id,
            to_user_id=to.id,
            user=user,
            comment=comment,
            actor=actor_for(user, Channel.API),
            now=now(),
            settings=settings,
        )
