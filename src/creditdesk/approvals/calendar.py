"""Business hours: when a team works, and deadlines counted in working minutes.

A calendar is an IANA time zone, at most one opening window per weekday in
local wall time, and a set of holidays. Windows are read on the local clock of
each day, so a day when the clocks change still opens and closes at the same
wall times; the minutes counted are real elapsed minutes.

A wall time that a clock change skips or repeats is read as the first instant
at which the local clock shows that time or later: the moment of the jump when
it falls in a gap, its first occurrence when it falls in a fold. Each window is
then one interval of real time, and the windows of successive days never
overlap. A window lying wholly inside a gap is empty.

Everything is counted in whole ``timedelta`` steps; no floats are involved.
"""

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# A year of closures, leap day included, keeps one calendar's configuration small.
MAX_HOLIDAYS = 366

MINUTE = timedelta(minutes=1)
_SECOND = timedelta(seconds=1)
_DAY = timedelta(days=1)

# Opening and closing wall times of one day; the opening comes first.
WorkingWindow = tuple[time, time]


@cache
def _iana_names() -> frozenset[str]:
    # The pinned tzdata package's list, not whatever the host's zoneinfo folder
    # holds, so a calendar valid on one machine is valid on every machine.
    listing = resources.files("tzdata").joinpath("zones").read_text("utf-8")
    return frozenset(listing.split())


def load_zone(name: str) -> ZoneInfo:
    """The IANA time zone called ``name``; ValueError when there is none."""
    if not isinstance(name, str) or name not in _iana_names():
        raise ValueError(
            f"{name!r} is not an IANA time zone name such as 'Europe/London'"
        )
    return ZoneInfo(name)


@dataclass(frozen=True)
class BusinessCalendar:
    """A team's working week, in its own time zone, less its holidays.

    ``week`` maps a weekday (0 is Monday, 6 is Sunday) to its opening window;
    a weekday left out is closed. Windows open and close on whole minutes.
    """

    time_zone: str
    week: Mapping[int, WorkingWindow]
    holidays: frozenset[date] = frozenset()
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Frozen means frozen: keep private copies the caller cannot change.
        object.__setattr__(self, "_zone", load_zone(self.time_zone))
        object.__setattr__(self, "week", MappingProxyType(_checked_week(self.week)))
        object.__setattr__(self, "holidays", _checked_holidays(self.holidays))

    def __hash__(self) -> int:
        return hash((self.time_zone, tuple(sorted(self.week.items())), self.holidays))

    @property
    def zone(self) -> ZoneInfo:
        return self._zone

    def add_business_minutes(self, start: datetime, minutes: int) -> datetime:
        """The UTC instant that lies ``minutes`` working minutes after ``start``.

        Counting begins at ``start`` when it is within hours, else at the next
        opening. A count that runs out exactly at closing time ends there, the
        natural deadline ("by 17:00 on Friday"), not at the next opening.

        Zero minutes gives ``start`` itself when it is within hours or exactly
        at closing time, and the next opening otherwise: the earliest moment
        work could be done. This keeps ``add(add(t, a), b) == add(t, a + b)``.
        """
        cursor = _as_utc(start, "start")
        remaining = _whole_minutes(minutes)

        for opens, closes in self._windows_from(cursor):
            cursor = max(cursor, opens)
            if remaining <= closes - cursor:
                return cursor + remaining
            remaining -= closes - cursor
        raise AssertionError("unreachable: the windows never run out")

    def business_minutes_between(self, start: datetime, end: datetime) -> int:
        """Whole working minutes in ``[start, end)``; 0 when ``end <= start``."""
        start, end = _as_utc(start, "start"), _as_utc(end, "end")
        if end <= start:
            return 0

        worked = timedelta()
        for opens, closes in self._windows_from(start):
            if opens >= end:
                break
            worked += min(closes, end) - max(opens, start)
        return worked // MINUTE

    def is_open(self, moment: datetime) -> bool:
        """Whether ``moment`` falls within a window (closing time is closed)."""
        moment = _as_utc(moment, "moment")
        for opens, closes in self._windows_from(moment):
            if opens > moment:
                return False
            if moment < closes:
                return True
        raise AssertionError("unreachable: the windows never run out")

    def to_config(self) -> dict[str, Any]:
        """The JSON-ready form that storage and the admin API hold."""
        return {
            "time_zone": self.time_zone,
            "week": {
                DAY_NAMES[day]: [_format_clock(opens), _format_clock(closes)]
                for day, (opens, closes) in sorted(self.week.items())
            },
            "holidays": sorted(day.isoformat() for day in self.holidays),
        }

    @classmethod
    def from_config(cls, data: dict[str, Any]) -> "BusinessCalendar":
        """Read ``to_config``'s form; a pydantic ValidationError names the field."""
        return CalendarIn.model_validate(data).to_calendar()

    def _windows_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """UTC windows in time order, from the first that closes at or after
        ``moment``. Endless, as holidays are finite and some weekday opens."""
        try:
            # A day early: a clock set back over midnight can give a moment a
            # later local date than a window that is still open, or just closing.
            day = moment.astimezone(self._zone).date() - _DAY
            while True:
                window = self._window(day)
                if window is not None and window[1] >= moment:
                    yield window
                day += _DAY
        except OverflowError:
            raise ValueError(
                "the calendar ran past the dates a datetime can hold"
            ) from None

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        hours = self.week.get(day.weekday())
        if hours is None or day in self.holidays:
            return None
        return self._instant(day, hours[0]), self._instant(day, hours[1])

    def _instant(self, day: date, wall: time) -> datetime:
        """The first UTC instant at which the local clock reads ``wall`` on
        ``day``, or a later time when a clock change skips it."""
        local = datetime.combine(day, wall, tzinfo=self._zone)
        first = local.astimezone(UTC)
        # fold=0 is the first of two readings in a fold, which is what we want;
        # only a reading in a gap fails to come back unchanged.
        if self._reading(first) == local.replace(tzinfo=None):
            return first
        return self._end_of_gap(local)

    def _end_of_gap(self, local: datetime) -> datetime:
        # In a gap fold=1 applies the offset after the jump, landing before the
        # jump, and fold=0 the one before it, landing after. Offsets are whole
        # seconds, so halving whole seconds between the two finds the jump.
        wall = local.replace(tzinfo=None)
        before = local.replace(fold=1).astimezone(UTC)
        low, high = 0, (local.replace(fold=0).astimezone(UTC) - before) // _SECOND
        while high - low > 1:
            middle = (low + high) // 2
            if self._reading(before + middle * _SECOND) >= wall:
                high = middle
            else:
                low = middle
        return before + high * _SECOND

    def _reading(self, instant: datetime) -> datetime:
        """What the local clock shows at ``instant``, as a naive wall time."""
        return instant.astimezone(self._zone).replace(tzinfo=None)


def _checked_week(week: Mapping[int, WorkingWindow]) -> dict[int, WorkingWindow]:
    checked: dict[int, WorkingWindow] = {}
    for day, window in week.items():
        if isinstance(day, bool) or day not in range(7):
            raise ValueError(f"weekday {day!r} is not 0 (Monday) to 6 (Sunday)")
        opens, closes = window
        for wall in (opens, closes):
            _check_wall_time(wall, DAY_NAMES[day])
        if opens >= closes:
            raise ValueError(
                f"{DAY_NAMES[day]} opens at {_format_clock(opens)}, which is not "
                f"before it closes at {_format_clock(closes)}"
            )
        checked[day] = (opens, closes)

    # With every day closed no deadline could ever fall; refuse it here rather
    # than search for an opening that never comes.
    if not checked:
        raise ValueError("a business calendar needs at least one open weekday")
    return dict(sorted(checked.items()))


def _check_wall_time(wall: object, day_name: str) -> None:
    if not isinstance(wall, time) or wall.tzinfo is not None:
        raise ValueError(f"{day_name}: {wall!r} is not a naive local time")
    if wall.second or wall.microsecond:
        raise ValueError(f"{day_name}: windows open and close on whole minutes")


def _checked_holidays(holidays: frozenset[date]) -> frozenset[date]:
    days = frozenset(holidays)
    # A datetime is a date too, but "closed all day" has no time of day.
    if any(not isinstance(d, date) or isinstance(d, datetime) for d in days):
        raise ValueError("holidays are dates, without a time of day")
    if len(days) > MAX_HOLIDAYS:
        raise ValueError(f"a calendar lists at most {MAX_HOLIDAYS} holidays")
    return days


def _as_utc(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return moment.astimezone(UTC)


def _whole_minutes(minutes: int) -> timedelta:
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise TypeError(f"minutes must be an int, not {type(minutes).__name__}")
    if minutes < 0:
        raise ValueError(f"minutes cannot be negative, got {minutes}")
    try:
        return minutes * MINUTE
    except OverflowError:
        raise ValueError(f"{minutes} minutes is beyond any deadline") from None


def _format_clock(wall: time) -> str:
    return f"{wall:%H:%M}"


DEFAULT_CALENDAR = BusinessCalendar(
    time_zone="Europe/London",
    week={day: (time(9), time(17)) for day in range(5)},
)


# The configuration form, for storage and the admin API.

_CLOCK = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _parse_clock(value: object) -> time:
    if not isinstance(value, str) or _CLOCK.fullmatch(value) is None:
        raise PydanticCustomError(
            "clock_time", 'write times as "HH:MM", from "00:00" to "23:59"'
        )
    return time(int(value[:2]), int(value[3:]))


def _parse_holiday(value: object) -> date:
    # fromisoformat alone would also take "20261225" and week dates.
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise PydanticCustomError(
        "holiday_date", 'write holidays as dates "YYYY-MM-DD", such as "2026-12-25"'
    )


def _check_order(window: WorkingWindow) -> WorkingWindow:
    opens, closes = window
    if opens >= closes:
        raise PydanticCustomError(
            "window_order",
            "opens at {opens}, which is not before it closes at {closes}",
            {"opens": _format_clock(opens), "closes": _format_clock(closes)},
        )
    return window


def _check_zone(name: str) -> str:
    try:
        load_zone(name)
    except ValueError as exc:
        raise PydanticCustomError("time_zone", str(exc)) from None
    return name


Clock = Annotated[
    time,
    PlainValidator(_parse_clock),
    PlainSerializer(_format_clock),
    WithJsonSchema(
        {"type": "string", "pattern": f"^{_CLOCK.pattern}$", "examples": ["09:00"]}
    ),
]
Window = Annotated[tuple[Clock, Clock], AfterValidator(_check_order)]
Holiday = Annotated[
    date,
    PlainValidator(_parse_holiday),
    PlainSerializer(date.isoformat),
    WithJsonSchema({"type": "string", "format": "date", "examples": ["2026-12-25"]}),
]


class WeekIn(BaseModel):
    """Opening and closing times per weekday; a day left out or null is closed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mon: Window | None = None
    tue: Window | None = None
    wed: Window | None = None
    thu: Window | None = None
    fri: Window | None = None
    sat: Window | None = None
    sun: Window | None = None

    @model_validator(mode="after")
    def _some_day_opens(self) -> Self:
        if not self.windows():
            raise PydanticCustomError("closed_week", "at least one weekday must open")
        return self

    def windows(self) -> dict[int, WorkingWindow]:
        """The open days by weekday number, 0 for Monday."""
        days = (getattr(self, name) for name in DAY_NAMES)
        return {day: window for day, window in enumerate(days) if window is not None}


class CalendarIn(BaseModel):
    """A business calendar: IANA time zone, weekly hours and holidays."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time_zone: Annotated[str, AfterValidator(_check_zone)] = Field(
        examples=["Europe/London"]
    )
    week: WeekIn
    holidays: list[Holiday] = Field(default_factory=list, max_length=MAX_HOLIDAYS)

    def to_calendar(self) -> BusinessCalendar:
        """The calendar this document describes."""
        return BusinessCalendar(
            time_zone=self.time_zone,
            week=self.week.windows(),
            holidays=frozenset(self.holidays),
        )
