"""The users service: creating teams and users, and what it refuses."""

import threading
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.actors import Actor, Channel
from creditdesk.audit.models import AuditEntry
from creditdesk.db import transaction
from creditdesk.errors import Conflict, NotFound, ValidationFailed
from creditdesk.users import service
from creditdesk.users.models import Role, Team, User
from creditdesk.users.schemas import UserOut

NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
ACTOR = Actor.system(Channel.CLI, name="cli:test")


def _name(prefix: str = "user") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}"


def _create(session: Session, **overrides: object) -> User:
    fields: dict[str, object] = {
        "username": _name(),
        "role": Role.AGENT,
        "team": None,
        "manager": None,
        "actor": ACTOR,
        "now": NOW,
    }
    fields.update(overrides)
    return service.create_user(session, **fields)  # type: ignore[arg-type]


def _audit_actions(session: Session, entity_type: str, entity_id: int) -> list[str]:
    return list(
        session.scalars(
            sa.select(AuditEntry.action)
            .where(
                AuditEntry.entity_type == entity_type,
                AuditEntry.entity_id == str(entity_id),
            )
            .order_by(AuditEntry.seq)
        )
    )


def test_create_user_creates_the_missing_team_and_audits_both(
    session_factory: sessionmaker[Session],
) -> None:
    team_name = f"Team {uuid.uuid4().hex[:8]}"

    with transaction(session_factory) as session:
        boss = _create(session, role=Role.TEAM_LEAD)
        user = _create(
            session,
            display_name="Riley Quinn",
            email="riley@example.com",
            team=team_name,
            manager=boss.username,
        )
        assert user.team is not None
        team_id = user.team.id

    with session_factory() as session:
        stored = service.get_by_username(session, user.username)
        assert stored.team is not None and stored.team.name == team_name
        assert stored.manager_id == boss.id
        assert stored.display_name == "Riley Quinn"
        assert stored.is_active and stored.created_at == NOW
        assert _audit_actions(session, "user", stored.id) == ["user.created"]
        assert _audit_actions(session, "team", team_id) == ["team.created"]


def test_display_name_defaults_to_the_username(session: Session) -> None:
    user = _create(session)

    assert user.display_name == user.username


def test_user_out_resolves_team_and_manager_names(session: Session) -> None:
    boss = _create(session, role=Role.MANAGER)
    team_name = f"Team {uuid.uuid4().hex[:8]}"
    user = _create(session, team=team_name, manager=boss.username)

    shown = UserOut.of(user)

    assert (shown.team, shown.manager, shown.role) == (
        team_name,
        boss.username,
        Role.AGENT,
    )


def test_get_or_create_team_returns_the_existing_team(
    session_factory: sessionmaker[Session],
) -> None:
    name = f"Team {uuid.uuid4().hex[:8]}"

    with transaction(session_factory) as session:
        first = service.get_or_create_team(session, name=name, actor=ACTOR, now=NOW)
    with transaction(session_factory) as session:
        second = service.get_or_create_team(
            session, name=f"  {name} ", actor=ACTOR, now=NOW
        )

    assert first.id == second.id
    with session_factory() as session:
        assert _audit_actions(session, "team", first.id) == ["team.created"]


def test_an_unknown_manager_is_a_validation_error_on_manager(
    session: Session,
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        _create(session, manager=_name("nobody"))

    assert caught.value.issues[0].field == "manager"


def test_a_deactivated_manager_is_refused(session: Session) -> None:
    boss = _create(session, role=Role.TEAM_LEAD)
    boss.is_active = False
    session.flush()

    with pytest.raises(ValidationFailed) as caught:
        _create(session, manager=boss.username)

    assert caught.value.issues[0].field == "manager"


def test_a_duplicate_username_is_a_conflict(session: Session) -> None:
    user = _create(session)

    with pytest.raises(Conflict):
        _create(session, username=user.username, role=Role.FINANCE)

    count = session.scalar(
        sa.select(sa.func.count()).where(User.username == user.username)
    )
    assert count == 1


@pytest.mark.parametrize(
    "username",
    ["ab", "Alice", "a" * 65, "al ice", "ali@ce", "", "zoë.agent"],
)
def test_usernames_outside_the_rules_are_refused(
    session: Session, username: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        _create(session, username=username)

    assert caught.value.issues[0].field == "username"


@pytest.mark.parametrize("length", [3, 20, 64])
def test_usernames_inside_the_rules_are_accepted(session: Session, length: int) -> None:
    username = f"x.{uuid.uuid4().hex}_{uuid.uuid4().hex}-z"[:length]

    user = _create(session, username=username)

    assert service.get_by_username(session, username).id == user.id


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "not-an-address"),
        ("email", "a b@example.com"),
        ("email", "someone@localhost"),
        ("display_name", "   "),
        ("team", " "),
        ("role", "overlord"),
    ],
)
def test_invalid_fields_name_the_field(
    session: Session, field: str, value: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        _create(session, **{field: value})

    assert caught.value.issues[0].field == field


def test_get_by_username_of_an_unknown_user_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound):
        service.get_by_username(session, _name("ghost"))


@pytest.mark.postgres
def test_concurrent_creators_of_a_team_end_with_one_team(
    session_factory: sessionmaker[Session],
) -> None:
    name = f"Team {uuid.uuid4().hex[:8]}"
    result: dict[str, int] = {}

    def create_in_other_transaction() -> None:
        with transaction(session_factory) as other:
            team = service.get_or_create_team(other, name=name, actor=ACTOR, now=NOW)
            result["id"] = team.id

    with session_factory() as first:
        mine = service.get_or_create_team(first, name=name, actor=ACTOR, now=NOW)
        thread = threading.Thread(target=create_in_other_transaction)
        thread.start()
        # The second insert waits on the unique index for our commit.
        thread.join(timeout=1)
        assert thread.is_alive()
        first.commit()

    thread.join(timeout=10)
    assert not thread.is_alive()
    assert result["id"] == mine.id
    with session_factory() as check:
        count = check.scalar(sa.select(sa.func.count()).where(Team.name == name))
    assert count == 1
