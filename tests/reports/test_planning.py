"""How a report's statements are planned on PostgreSQL."""

from datetime import date

import pytest
import sqlalchemy as sa

from creditdesk.db import read_only
from creditdesk.reports.service import run_report
from creditdesk.reports.settings import RoiBaselines


@pytest.mark.postgres
def test_a_report_is_planned_for_its_own_range_not_a_generic_plan(
    session_factory, org
) -> None:
    # After ten runs of a prepared statement PostgreSQL may keep a plan
    # made without the parameters; a report's best plan depends on them.
    with read_only(session_factory()) as session:
        finance = session.merge(org.finance)
        settings = ("jit", "work_mem", "plan_cache_mode")
        before = [session.scalar(sa.text(f"SHOW {name}")) for name in settings]

        run_report(
            session,
            user=finance,
            name="credits-issued",
            today=date(2026, 3, 31),
            baselines=RoiBaselines(),
        )
        during = [session.scalar(sa.text(f"SHOW {name}")) for name in settings]
        session.rollback()
        after = session.scalar(sa.text("SHOW plan_cache_mode"))

    assert before[2] == "auto"
    assert during == ["off", "64MB", "force_custom_plan"]
    # SET LOCAL: the pooled connection goes back as it came.
    assert after == "auto"
