from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.reports.history import History


@pytest.fixture
def history(session_factory: sessionmaker[Session]) -> History:
    return History.new(session_factory)


@pytest.fixture
def report(client: TestClient):
    """``report(history, "lead", "leakage", date_from=...)``: the JSON of a
    report as one of the history's people asks for it; 200 is asserted."""

    def get(history: History, who: str, name: str, **params: Any) -> dict:
        response = client.get(
            f"/api/v1/reports/{name}", params=params, headers=history.org.auth(who)
        )
        assert response.status_code == 200, response.text
        return response.json()

    return get
