"""The time zone a page shows its reader's times in: the zone of their
team's business calendar (the default calendar's for a team without one)."""

import time
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from creditdesk.approvals.calendar import DEFAULT_CALENDAR
from creditdesk.approvals.deadlines import calendar_for
from creditdesk.db import read_only

log = structlog.get_logger(__name__)

UTC_ZONE = ZoneInfo("UTC")


class ReaderZones:
    """Each team's zone, looked up again once ``seconds`` have passed, so a
    calendar changed in another process shows on this one's pages within
    that time. Threads may race to look a team up; both find the same."""

    def __init__(self, factory: sessionmaker[Session], seconds: float) -> None:
        self._factory = factory
        self._seconds = seconds
        self._known: dict[int | None, tuple[float, ZoneInfo]] = {}

    def of_team(self, team_id: int | None) -> ZoneInfo:
        now = time.monotonic()
        known = self._known.get(team_id)
        if known is not None and now - known[0] < self._seconds:
            return known[1]

        try:
            with read_only(self._factory()) as session:
                zone = calendar_for(session, team_id).zone
        except SQLAlchemyError:
            # An error page must still render while the database is down.
            log.warning("web.zone_unknown", team_id=team_id)
            return known[1] if known is not None else DEFAULT_CALENDAR.zone
        self._known[team_id] = (now, zone)
        return zone
