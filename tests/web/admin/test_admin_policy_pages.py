"""Policy versions on pages: an invalid edit is shown and changes nothing; a
valid one, once saved, is the version in force, audited on channel web."""

import re

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.audit.models import AuditEntry
from creditdesk.policy import service
from creditdesk.policy.models import PolicyVersion
from tests.web.conftest import ClientFor
from tests.web.support import Person, csrf_of

EDIT = "/admin/policy/edit"
# A change the rest of the package does not notice: a reason's label.
OLD_LABEL = "label: Overcharge"
NEW_LABEL = "label: Overcharged on the bill"
# Bands must ascend: 100.00 is below the band before it (250.00).
INVALID = ('GBP: "1000.00"', 'GBP: "100.00"')


def _editor(browser, factory: sessionmaker[Session]) -> tuple[str, str, int]:
    page = browser.get(EDIT)
    assert page.status_code == 200, page.text
    with factory() as session:
        row = _newest(session)
    return page.text, row.document, row.version


def _newest(session: Session) -> PolicyVersion:
    return service.list_versions(session, limit=1)[0]


def _post(browser, page: str, document: str, action: str, version: int, **extra):
    form = {
        "csrf_token": csrf_of(page),
        "document": document,
        "base_version": str(version),
        "action": action,
        **extra,
    }
    return browser.post(EDIT, data=form, follow_redirects=False)


def _policy_entries(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "policy.applied")
        )


def test_the_editor_holds_the_yaml_in_force(
    client_for: ClientFor, admin: Person, session_factory: sessionmaker[Session]
) -> None:
    page, _document, version = _editor(client_for(admin), session_factory)

    assert '<label for="document">Policy document (YAML)</label>' in page
    assert "auto_approval_limit:" in page
    assert f'name="base_version" value="{version}"' in page
    assert f"put in force at once as version {version + 1}" in page


def test_an_invalid_policy_shows_the_error_at_its_line_and_changes_nothing(
    client_for: ClientFor, admin: Person, session_factory: sessionmaker[Session]
) -> None:
    browser = client_for(admin)
    page, document, version = _editor(browser, session_factory)
    bad = document.replace(*INVALID)
    line = bad.splitlines().index(
        next(row for row in bad.splitlines() if 'GBP: "100.00"' in row)
    )
    entries = _policy_entries(session_factory)

    for action in ("check", "apply"):
        answer = _post(browser, page, bad, action, version)

        assert answer.status_code == 422, answer.text
        assert f"<strong>Line {line + 1}</strong>" in answer.text
        assert "<code>approval_matrix.bands.1.up_to.GBP</code>" in answer.text
        assert "bands must ascend" in answer.text
        assert "The line reads: <code>- up_to: {GBP: &#34;100.00&#34;" in answer.text
        assert 'aria-invalid="true"' in answer.text
        assert 'aria-describedby="document-hint document-error"' in answer.text
        assert "nothing was saved" in answer.text
        # What was typed comes back for correcting, not the version in force.
        assert "GBP: &#34;100.00&#34;" in answer.text

    with session_factory() as session:
        assert _newest(session).version == version
    assert _policy_entries(session_factory) == entries


def test_a_yaml_syntax_error_names_its_line(
    client_for: ClientFor, admin: Person, session_factory: sessionmaker[Session]
) -> None:
    browser = client_for(admin)
    page, document, version = _editor(browser, session_factory)

    answer = _post(browser, page, document + "\nbroken: [\n", "check", version)

    assert answer.status_code == 422
    assert re.search(r"<strong>Line \d+</strong>, <code>document</code>", answer.text)


def test_check_shows_the_diff_and_saves_nothing(
    client_for: ClientFor, admin: Person, session_factory: sessionmaker[Session]
) -> None:
    browser = client_for(admin)
    page, document, version = _editor(browser, session_factory)
    assert OLD_LABEL in document

    answer = _post(
        browser, page, document.replace(OLD_LABEL, NEW_LABEL, 1), "check", version
    )

    assert answer.status_code == 200, answer.text
    assert "The policy is valid" in answer.text
    assert re.search(r"Removed line \d+: </span>[^<]*" + OLD_LABEL, answer.text)
    assert re.search(r"Added line \d+: </span>[^<]*" + NEW_LABEL, answer.text)
    with session_factory() as session:
        assert _newest(session).version == version


def test_save_and_activate_puts_the_edit_in_force_audited_on_the_web(
    client_for: ClientFor, admin: Person, session_factory: sessionmaker[Session]
) -> None:
    browser = client_for(admin)
    page, document, version = _editor(browser, session_factory)
    edited = document.replace(OLD_LABEL, NEW_LABEL, 1)

    answer = _post(
        browser, page, edited.replace("\n", "\r\n"), "apply", version, comment="Wording"
    )

    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/admin/policy/{version + 1}"
    with session_factory() as session:
        row = _newest(session)
        active = service.active_policy(session)
        entry = session.scalars(
            sa.select(AuditEntry).where(
                AuditEntry.action == "policy.applied",
                AuditEntry.entity_id == str(version + 1),
            )
        ).one()
    # Browsers send CRLF; the version keeps the document's own line breaks.
    assert (row.version, row.document, row.comment) == (version + 1, edited, "Wording")
    assert active.version == version + 1
    assert (entry.channel, entry.actor_id, entry.reason) == ("web", admin.id, "Wording")

    shown = browser.get(answer.headers["location"])
    assert f"Policy version {version + 1} is now in force." in shown.text
    assert re.search(r"Added line \d+: </span>[^<]*" + NEW_LABEL, shown.text)
    listing = browser.get("/admin/policy").text
    assert f'<a href="/admin/policy/{version + 1}">Version {version + 1}</a>' in listing

    # Back to the original wording, so other tests see the policy they expect.
    page = browser.get(EDIT).text
    back = _post(browser, page, document, "apply", version + 1)
    assert back.status_code == 303


def test_saving_an_edit_of_a_replaced_version_is_refused(
    client_for: ClientFor, admin: Person, session_factory: sessionmaker[Session]
) -> None:
    browser = client_for(admin)
    page, document, version = _editor(browser, session_factory)

    answer = _post(
        browser, page, document.replace(OLD_LABEL, NEW_LABEL, 1), "apply", version - 1
    )

    assert answer.status_code == 409
    assert f"version {version} was put in force since you started" in answer.text
    with session_factory() as session:
        assert _newest(session).version == version


def test_saving_the_policy_unchanged_is_refused(
    client_for: ClientFor, admin: Person, session_factory: sessionmaker[Session]
) -> None:
    browser = client_for(admin)
    page, document, version = _editor(browser, session_factory)

    answer = _post(browser, page, document, "apply", version)

    assert answer.status_code == 422
    assert "this is the policy in force" in answer.text
