"""The short-lived cache of authenticated tokens."""

from datetime import UTC, datetime, timedelta

from creditdesk.access.service import TokenCache
from creditdesk.users.models import Role, User

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _user() -> User:
    return User(id=7, username="cache-test", display_name="C", role=Role.AGENT)


def test_an_entry_lives_for_the_ttl_only() -> None:
    cache = TokenCache(ttl_seconds=5)
    user = _user()
    cache.put("cdt_secret", user, now=NOW, expires=None)

    assert cache.get("cdt_secret", now=NOW + timedelta(seconds=4)) is user
    assert cache.get("cdt_secret", now=NOW + timedelta(seconds=5)) is None
    assert cache.get("cdt_other", now=NOW) is None


def test_an_entry_never_outlives_the_token() -> None:
    cache = TokenCache(ttl_seconds=60)
    cache.put("cdt_secret", _user(), now=NOW, expires=NOW + timedelta(seconds=2))

    assert cache.get("cdt_secret", now=NOW + timedelta(seconds=1)) is not None
    assert cache.get("cdt_secret", now=NOW + timedelta(seconds=2)) is None


def test_a_zero_ttl_turns_the_cache_off() -> None:
    cache = TokenCache(ttl_seconds=0)
    cache.put("cdt_secret", _user(), now=NOW, expires=None)
    assert cache.get("cdt_secret", now=NOW) is None


def test_the_cache_is_bounded() -> None:
    cache = TokenCache(ttl_seconds=60, max_entries=3)
    for n in range(5):
        cache.put(f"cdt_{n}", _user(), now=NOW, expires=None)
    held = [n for n in range(5) if cache.get(f"cdt_{n}", now=NOW) is not None]
    assert len(held) <= 3
    assert 4 in held
