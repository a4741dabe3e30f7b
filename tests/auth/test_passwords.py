"""Password hashing, the length rule, rehashing and changing a password."""

from datetime import UTC, datetime

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.audit import service as audit
from creditdesk.auth import passwords
from creditdesk.db import transaction
from creditdesk.errors import ValidationFailed
from creditdesk.users.models import User
from tests.auth.conftest import PASSWORD, Person, load_user, sign_in
from tests.factories import TEST_ACTOR

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_a_hash_is_argon2id_and_verifies_only_the_right_password() -> None:
    stored = passwords.hash_password(PASSWORD)

    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert passwords.verify(stored, PASSWORD).ok
    assert not passwords.verify(stored, PASSWORD + "!").ok
    assert passwords.verify(stored, PASSWORD).new_hash is None


def test_without_a_stored_hash_nothing_verifies() -> None:
    assert not passwords.verify(None, PASSWORD).ok
    assert not passwords.verify("not-a-hash", PASSWORD).ok


@pytest.mark.parametrize("length", [0, 11, 1025])
def test_a_password_outside_12_to_1024_characters_is_refused(length: int) -> None:
    with pytest.raises(ValidationFailed) as caught:
        passwords.hash_password("x" * length)

    assert caught.value.status == 422
    assert caught.value.issues[0].field == "password"


@pytest.mark.parametrize("length", [12, 1024])
def test_the_length_bounds_are_inclusive(length: int) -> None:
    assert passwords.verify(passwords.hash_password("y" * length), "y" * length).ok


def test_a_hash_with_old_parameters_is_replaced() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    stored = weak.hash(PASSWORD)

    checked = passwords.verify(stored, PASSWORD)

    assert checked.ok
    assert checked.new_hash is not None
    assert not passwords.HASHER.check_needs_rehash(checked.new_hash)


def test_signing_in_stores_the_rehashed_password(
    web: TestClient, person: Person, session_factory: sessionmaker[Session]
) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    with transaction(session_factory) as session:
        session.get_one(User, person.id).password_hash = weak.hash(PASSWORD)

    sign_in(web, person)

    stored = load_user(session_factory, person.id).password_hash
    assert stored is not None and not passwords.HASHER.check_needs_rehash(stored)
    assert passwords.verify(stored, PASSWORD).ok


def test_setting_a_password_audits_that_it_changed_never_the_hash(
    session_factory: sessionmaker[Session], person: Person
) -> None:
    with transaction(session_factory) as session:
        user = session.get_one(User, person.id)
        user.failed_sign_ins, user.locked_until = 5, NOW
        passwords.set_password(
            session,
            user=user,
            password="a brand new passphrase",
            actor=TEST_ACTOR,
            now=NOW,
        )
        new_hash = user.password_hash

    with session_factory() as session:
        entry = audit.entries_for(session, entity_type="user", entity_id=person.id)[-1]
        user = session.get_one(User, person.id)
    assert entry.action == "user.password_changed"
    assert new_hash is not None and new_hash not in str(entry.changes)
    assert "password_changed_at" in entry.changes
    assert user.password_changed_at == NOW
    assert (user.failed_sign_ins, user.locked_until) == (0, None)


def test_a_new_password_ends_the_users_web_sessions(
    web: TestClient, person: Person, session_factory: sessionmaker[Session]
) -> None:
    sign_in(web, person)
    assert web.get("/api/v1/auth/session").status_code == 200

    with transaction(session_factory) as session:
        user = session.get_one(User, person.id)
        passwords.set_password(
            session,
            user=user,
            password="another long passphrase",
            actor=TEST_ACTOR,
            now=NOW,
        )

    assert web.get("/api/v1/auth/session").status_code == 401
