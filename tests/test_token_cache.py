"""The short-lived cache of authenticated tokens."""

from datetime import UTC, datetime, timedelta

from creditdesk.access.service import TokenCache, digest
from creditdesk.auth.scopes import Principal
from creditdesk.users.models import Role, User

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _user(user_id: int = 7) -> Principal:
    user = User(id=user_id, username="cache-test", display_name="C", role=Role.AGENT)
    return Principal(user=user, scopes=frozenset({"read"}), token_id=user_id)


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


def test_evicting_a_token_forgets_it_at_once() -> None:
    cache = TokenCache(ttl_seconds=60)
    cache.put("cdt_one", _user(), now=NOW, expires=None)
    cache.put("cdt_two", _user(), now=NOW, expires=None)

    cache.evict(digest("cdt_one"))

    assert cache.get("cdt_one", now=NOW) is None
    assert cache.get("cdt_two", now=NOW) is not None


def test_evicting_a_user_forgets_all_their_tokens() -> None:
    cache = TokenCache(ttl_seconds=60)
    cache.put("cdt_a", _user(7), now=NOW, expires=None)
    cache.put("cdt_b", _user(7), now=NOW, expires=None)
    cache.put("cdt_c", _user(8), now=NOW, expires=None)

    cache.evict_user(7)

    assert cache.get("cdt_a", now=NOW) is None
    assert cache.get("cdt_b", now=NOW) is None
    assert cache.get("cdt_c", now=NOW) is not None
