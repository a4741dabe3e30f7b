"""The audit page: searching by record, actor and days, a page at a time,
with the API's masking; and verifying the chain, before and after someone
rewrites an entry behind the database's triggers."""

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.actors import Actor, Channel
from creditdesk.audit import service as audit
from creditdesk.audit.models import AuditEntry
from creditdesk.credits.models import format_number
from creditdesk.db import transaction
from tests.access.field_support import field_override
from tests.audit.support import behind_the_triggers
from tests.factories import Org
from tests.outbox.desk import open_desk
from tests.web.conftest import ClientFor
from tests.web.support import Person, csrf_of, make_person, person_for, sign_in

ENTRY = re.compile(r'<li class="audit-entry" id="entry-(\d+)">')


def _at(day: int, hour: int = 10) -> datetime:
    return datetime(2031, 1, day, hour, 0, tzinfo=UTC)


def _actor(person: Person) -> Actor:
    return Actor(
        user_id=person.id, name=person.username, channel=Channel.WEB, role=person.role
    )


def _record(
    factory: sessionmaker[Session], entries: list[tuple[Person, str, int, datetime]]
) -> dict[str, int]:
    """Seal one entry per (actor, entity type, entity id, time); each gets a
    reason of its own. Returns {reason: seq}, in the order given."""
    tag = uuid.uuid4().hex[:8]
    reasons = []
    with transaction(factory) as session:
        for index, (who, kind, entity_id, moment) in enumerate(entries):
            reason = f"entry {index} {tag}"
            reasons.append(reason)
            audit.record(
                session,
                actor=_actor(who),
                action=f"{kind}.updated",
                entity_type=kind,
                entity_id=entity_id,
                changes={"status": ("open", "pending")},
                reason=reason,
                now=moment,
            )
    with factory() as session:
        rows = session.execute(
            sa.select(AuditEntry.reason, AuditEntry.seq).where(
                AuditEntry.reason.in_(reasons)
            )
        )
        # The database returns them in any order it likes (PostgreSQL's
        # differs from run to run); callers unpack them as given.
        found = dict(rows.all())
    return {reason: found[reason] for reason in reasons}


def _seqs(html: str) -> list[int]:
    return [int(seq) for seq in ENTRY.findall(html)]


def _entity_id() -> int:
    return 800_000_000 + uuid.uuid4().int % 100_000_000


@pytest.fixture
def auditor(session_factory: sessionmaker[Session], org: Org) -> Person:
    return person_for(session_factory, org.auditor)


@pytest.mark.parametrize("role", ["agent", "junior", "lead", "manager", "finance"])
def test_other_roles_get_403(
    client_for: ClientFor, session_factory: sessionmaker[Session], org: Org, role: str
) -> None:
    browser = client_for(person_for(session_factory, getattr(org, role)))
    token = csrf_of(browser.get("/").text)

    page = browser.get("/audit")
    verify = browser.post("/audit/verify", data={"csrf_token": token})

    assert (page.status_code, verify.status_code) == (403, 403)
    assert 'href="/audit"' not in browser.get("/").text


def test_entity_actor_and_days_really_filter(
    client_for: ClientFor, session_factory: sessionmaker[Session], auditor: Person
) -> None:
    alice = make_person(session_factory)
    bob = make_person(session_factory)
    credit_id, case_id = _entity_id(), _entity_id()
    seq = _record(
        session_factory,
        [
            (alice, "credit", credit_id, _at(5)),
            (bob, "credit", credit_id, _at(7)),
            (alice, "case", case_id, _at(6)),
        ],
    )
    first, second, third = seq.values()
    browser = client_for(auditor)

    def search(**query: str) -> list[int]:
        page = browser.get("/audit", params=query)
        assert page.status_code == 200, page.text
        return [s for s in _seqs(page.text) if s in seq.values()]

    credit = format_number(credit_id)
    assert search(entity_type="credit", entity=credit) == [second, first]
    assert search(entity=credit) == [second, first]
    assert search(entity_type="case", entity=f"CS-{case_id:06d}") == [third]
    assert search(entity_type="case", entity=str(credit_id)) == []
    assert search(actor=alice.username) == [third, first]
    assert search(actor=str(bob.id)) == [second]
    assert search(actor=alice.username, **{"from": "2031-01-06"}) == [third]
    assert search(entity=credit, **{"from": "2031-01-06", "to": "2031-01-07"}) == [
        second
    ]
    assert search(entity=credit, to="2031-01-06") == [first]


def test_bad_filters_are_shown_next_to_their_field(
    client_for: ClientFor, auditor: Person
) -> None:
    browser = client_for(auditor)

    nobody = browser.get("/audit", params={"actor": "no.such.person"})
    backwards = browser.get("/audit", params={"from": "2031-02-01", "to": "2031-01-01"})
    not_a_day = browser.get("/audit", params={"from": "yesterday"})
    wrong_kind = browser.get("/audit", params={"entity_type": "case", "entity": "BC-1"})

    assert nobody.status_code == 422
    assert 'id="actor-error">there is no user called' in nobody.text
    assert 'aria-invalid="true"' in nobody.text
    assert (backwards.status_code, not_a_day.status_code) == (422, 422)
    assert 'id="to-error">the period ends before it starts' in backwards.text
    assert 'id="from-error">enter a date' in not_a_day.text
    assert 'id="entity-error">BC-1 is a credit, not a case' in wrong_kind.text
    assert _seqs(nobody.text) == []


def test_entries_page_newest_first_with_a_cursor(
    client_for: ClientFor, session_factory: sessionmaker[Session], auditor: Person
) -> None:
    who = make_person(session_factory)
    entity_id = _entity_id()
    seq = _record(session_factory, [(who, "team", entity_id, _at(9))] * 55)
    browser = client_for(auditor)

    first = browser.get("/audit", params={"entity_type": "team", "entity": entity_id})
    older = re.search(r'<a href="([^"]+)">Older entries</a>', first.text)
    assert older
    second = browser.get(older.group(1).replace("&amp;", "&"))

    everything = sorted(seq.values(), reverse=True)
    assert _seqs(first.text) == everything[:50]
    assert _seqs(second.text) == everything[50:]
    assert "Older entries" not in second.text


def test_hidden_fields_stay_hidden_as_in_the_api(
    client: TestClient,
    client_for: ClientFor,
    session_factory: sessionmaker[Session],
    org: Org,
    auditor: Person,
) -> None:
    agent = make_person(session_factory)
    credit_id = _entity_id()
    words = f"Billed twice for the same month {uuid.uuid4().hex[:6]}"
    with transaction(session_factory) as session:
        audit.record(
            session,
            actor=_actor(agent),
            action="credit.requested",
            entity_type="credit",
            entity_id=credit_id,
            changes={"amount_minor": (None, 1729), "justification": (None, words)},
            reason="Approved at once: GBP 17.29 is within the limit",
        )
    query = {"entity_type": "credit", "entity": str(credit_id)}
    browser = client_for(auditor)

    with field_override(client, org, "auditor", "amount", "hidden"):
        masked = browser.get("/audit", params=query).text
    full = browser.get("/audit", params=query).text

    assert len(_seqs(masked)) == 1
    assert "amount_minor" not in masked and "1729" not in masked
    assert "17.29" not in masked and "[amount withheld]" in masked
    assert words in masked
    assert "Hash <code>" not in masked
    assert "amount_minor" in full and "1729" in full and "17.29" in full
    assert "Hash <code>" in full


# --- Verifying the chain, on a database of its own ------------------------------


@pytest.fixture
def own_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """An auditor signed in to an app on a fresh database (tampering breaks
    a chain for good, so no other test may share it)."""
    with open_desk(tmp_path_factory.mktemp("audit-pages")) as desk:
        client = TestClient(desk.client.app, base_url="https://testserver")
        sign_in(client, person_for(desk.factory, desk.org.auditor))
        client.factory = desk.factory  # type: ignore[attr-defined]
        yield client
        client.close()


def test_verify_says_ok_then_names_the_entry_rewritten(own_console: TestClient) -> None:
    factory = own_console.factory  # type: ignore[attr-defined]
    token = csrf_of(own_console.get("/audit").text)

    intact = own_console.post("/audit/verify", data={"csrf_token": token})
    with factory() as session:
        total = session.scalar(sa.select(sa.func.count(AuditEntry.seq)))
    forged = own_console.post("/audit/verify", data={})

    assert intact.status_code == 200
    assert "The chain is intact." in intact.text
    assert f"{total} entries checked" in intact.text
    assert forged.status_code == 403

    with behind_the_triggers(factory.kw["bind"]) as connection:
        connection.exec_driver_sql(
            "UPDATE audit_entries SET reason = 'rewritten' WHERE seq = 3"
        )
    broken = own_console.post("/audit/verify", data={"csrf_token": token})

    assert broken.status_code == 200
    assert "The chain is broken at entry 3.</strong>" in broken.text
    assert "hash" in broken.text.split("broken at entry 3.</strong>")[1][:200]
    assert "2 entries were intact before it." in broken.text


def test_records_link_to_their_pages_only_for_who_may_open_them(
    client_for: ClientFor, session_factory: sessionmaker[Session], org: Org
) -> None:
    who = make_person(session_factory)
    message_id, credit_id = _entity_id(), _entity_id()
    _record(
        session_factory,
        [
            (who, "outbox_message", message_id, _at(3)),
            (who, "credit", credit_id, _at(3)),
        ],
    )
    query = {"actor": who.username}

    auditor = client_for(person_for(session_factory, org.auditor)).get(
        "/audit", params=query
    )
    admin = client_for(person_for(session_factory, org.admin)).get(
        "/audit", params=query
    )

    assert f'href="/credits/{credit_id}">{format_number(credit_id)}</a>' in auditor.text
    assert f"/ops/outbox/{message_id}" not in auditor.text
    assert str(message_id) in auditor.text
    assert f'href="/ops/outbox/{message_id}"' in admin.text


def test_digits_that_are_not_ascii_are_a_filter_error_not_a_500(
    client_for: ClientFor, auditor: Person
) -> None:
    browser = client_for(auditor)

    actor = browser.get("/audit", params={"actor": "²"})
    case = browser.get("/audit", params={"entity_type": "case", "entity": "CS-²"})

    assert actor.status_code == 422
    assert 'id="actor-error"' in actor.text
    assert case.status_code == 422
    assert 'id="entity-error"' in case.text
