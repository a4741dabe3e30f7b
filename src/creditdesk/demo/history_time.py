"""Times of a generated history: whole seconds, written as the databases keep them.

The generator counts in integer seconds since the Unix epoch (UTC) and writes
``YYYY-MM-DD HH:MM:SS.000000``: SQLite's stored text for a DateTime, the
audit chain's canonical instant, and what PostgreSQL reads for a
``timestamptz`` once the loading session's time zone is UTC.
"""

from datetime import UTC, date, datetime, timedelta

DAY = 86_400
HOUR = 3_600
HISTORY_DAYS = 730

# Disputes follow the bills: more in the first days after the monthly billing
# run, in the winter months, and on Mondays when the weekend's post is read.
MONTH_WEIGHT = {1: 135, 2: 120, 3: 105, 4: 95, 5: 90, 6: 85}
MONTH_WEIGHT |= {7: 80, 8: 80, 9: 95, 10: 105, 11: 115, 12: 125}
WEEKDAY_WEIGHT = (150, 110, 100, 95, 90, 40, 20)  # Monday first
BILLING_RUN_DAYS = {1: 170, 2: 160, 3: 140, 4: 120, 5: 110}


# "HH:MM:SS.000000" for every second of a day: formatting is the generator's
# most frequent operation, and a lookup is several times faster.
_CLOCK = [f"{s // HOUR:02d}:{s // 60 % 60:02d}:{s % 60:02d}.000000" for s in range(DAY)]


class _DayTexts(dict[int, str]):
    """``"YYYY-MM-DD "`` per day since the epoch, made the first time asked."""

    def __missing__(self, days: int) -> str:
        text = self[days] = Stamps.date_text(days * DAY) + " "
        return text


class Stamps:
    """The history's window and a fast formatter for its instants."""

    def __init__(self, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        self.now = int(now.astimezone(UTC).timestamp())
        self.start = self.now - HISTORY_DAYS * DAY
        self._days = _DayTexts()

    def text(self, t: int) -> str:
        return self._days[t // DAY] + _CLOCK[t % DAY]

    @staticmethod
    def date_text(t: int) -> str:
        return (date(1970, 1, 1) + timedelta(days=t // DAY)).isoformat()

    @staticmethod
    def instant(t: int) -> datetime:
        return datetime.fromtimestamp(t, UTC)


def day_weights(stamps: Stamps) -> list[tuple[int, int]]:
    """(midnight, weight) for every day of the window, oldest first."""
    first = stamps.start - stamps.start % DAY
    weights = []
    for midnight in range(first, stamps.now, DAY):
        day = date(1970, 1, 1) + timedelta(days=midnight // DAY)
        weight = MONTH_WEIGHT[day.month] * WEEKDAY_WEIGHT[day.weekday()]
        weight = weight * BILLING_RUN_DAYS.get(day.day, 100) // 100
        weights.append((midnight, weight))
    return weights


# Calls arrive through the working day: (first hour, last hour, weight).
HOUR_BANDS = ((8, 10, 3), (10, 13, 5), (13, 17, 5), (17, 20, 2), (20, 22, 1))
