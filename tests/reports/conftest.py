from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.db import read_only
from creditdesk.reports.service import run_report
from creditdesk.reports.settings import RoiBaselines
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


@pytest.fixture
def counted(session_factory: sessionmaker[Session]):
    """``counted(history, "resolution-time", date_from=...)``: the tables of a
    report run as the dashboard runs it (a summary), for finance."""

    def run(history: History, name: str, **filters: Any) -> dict[str, list]:
        with read_only(session_factory()) as session:
            return run_report(
                session,
                user=session.merge(history.org.finance),
                name=name,
                today=date(2015, 12, 31),
                baselines=RoiBaselines(),
                summary=True,
                **filters,
            ).tables

    return run
