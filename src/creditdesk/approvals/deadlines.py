"""When a work item is due and when its holder is reminded.

Both are counted in business minutes of the calendar of the team the credit
was raised in: the customer waits on that team, so its working week, time
zone and holidays are the ones that matter.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from creditdesk.approvals.calendar import DEFAULT_CALENDAR, BusinessCalendar
from creditdesk.credits.models import BillingCredit
from creditdesk.users.models import Team


@dataclass(frozen=True, slots=True)
class Timing:
    due_at: datetime | None
    remind_at: datetime | None


NO_DEADLINE = Timing(None, None)


def calendar_for(session: Session, team_id: int | None) -> BusinessCalendar:
    team = session.get(Team, team_id) if team_id is not None else None
    if team is None or not team.calendar:
        return DEFAULT_CALENDAR
    return BusinessCalendar.from_config(team.calendar)


def timing(
    session: Session, credit: BillingCredit, config: dict[str, Any], now: datetime
) -> Timing:
    """Deadline and reminder for an item assigned at ``now`` under ``config``
    (an approval step's stored policy step)."""
    deadline = int(config.get("deadline_minutes", 0))
    if deadline <= 0:
        return NO_DEADLINE

    calendar = calendar_for(session, credit.team_id)
    due = calendar.add_business_minutes(now, deadline)
    before = int(config.get("remind_before_minutes", 0))
    if before <= 0 or before >= deadline:
        return Timing(due, None)
    return Timing(due, calendar.add_business_minutes(now, deadline - before))
