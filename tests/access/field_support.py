"""Helpers for field-level security tests: overrides that undo themselves,
and a search of JSON for keys that must never appear."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient

from tests.factories import Org

FIELD_PERMISSIONS = "/api/v1/admin/field-permissions"


@contextmanager
def field_override(
    client: TestClient, org: Org, role: str, field: str, level: str
) -> Iterator[None]:
    """Set one credit field's level for ``role`` through the admin API, and
    return it to the default afterwards (the roles are shared by every test)."""
    path = f"{FIELD_PERMISSIONS}/{role}/credit/{field}"
    response = client.put(path, json={"level": level}, headers=org.auth("admin"))
    assert response.status_code == 200, response.text
    try:
        yield
    finally:
        response = client.delete(path, headers=org.auth("admin"))
        assert response.status_code == 200, response.text


def keys_in(document: Any) -> set[str]:
    """Every key of every object nested in a JSON document."""
    if isinstance(document, dict):
        found = set(document)
        for value in document.values():
            found |= keys_in(value)
        return found
    if isinstance(document, list):
        return set().union(*(keys_in(v) for v in document)) if document else set()
    return set()
