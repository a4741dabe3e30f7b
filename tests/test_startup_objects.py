"""A serving process hands what start-up built to no garbage collection."""

import gc
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from creditdesk.app import create_app
from creditdesk.config import Settings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    # Frozen objects are never collected: put them back for the next test.
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_a_serving_app_freezes_what_start_up_built(
    unfrozen: None, settings: Settings, engine: Engine
) -> None:
    app = create_app(settings, engine=engine, freeze_startup_objects=True)
    assert gc.get_freeze_count() == 0

    with TestClient(app) as client:
        frozen = gc.get_freeze_count()
        assert client.get("/healthz").status_code == 200

    # The app itself, its routes and every module loaded by then.
    assert frozen > 10_000


def test_an_app_built_for_a_test_leaves_the_collector_alone(
    unfrozen: None, settings: Settings, engine: Engine
) -> None:
    with TestClient(create_app(settings, engine=engine)) as client:
        assert client.get("/healthz").status_code == 200

    assert gc.get_freeze_count() == 0
