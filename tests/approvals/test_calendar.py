"""Business-hours calendars: deadlines in working minutes, clock changes, config."""

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditdesk.approvals.calendar import (
    DEFAULT_CALENDAR,
    MAX_HOLIDAYS,
    BusinessCalendar,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
NINE_TO_FIVE = (time(9), time(17))
WEEKDAYS = dict.fromkeys(range(5), NINE_TO_FIVE)

# Early May bank holiday is Monday 4 May 2026; Christmas falls on a Friday.
UK_2026 = BusinessCalendar(
    "Europe/London",
    WEEKDAYS,
    frozenset({date(2026, 5, 4), date(2026, 12, 25), date(2026, 12, 28)}),
)
EVERY_DAY = BusinessCalendar("Europe/London", dict.fromkeys(range(7), NINE_TO_FIVE))


def london(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=LONDON)


def day_of(midnight: datetime) -> tuple[datetime, datetime]:
    # Aware arithmetic is wall time: the day runs 23, 24 or 25 real hours.
    return midnight, midnight + timedelta(days=1)


def add(calendar: BusinessCalendar, start: datetime, minutes: int) -> datetime:
    return calendar.add_business_minutes(start, minutes)


# Counting within one calendar


@pytest.mark.parametrize(
    ("start", "minutes", "due"),
    [
        pytest.param(london(2026, 6, 1, 10), 90, london(2026, 6, 1, 11, 30), id="day"),
        pytest.param(london(2026, 6, 1, 16), 120, london(2026, 6, 2, 10), id="night"),
        pytest.param(london(2026, 6, 5, 16, 30), 60, london(2026, 6, 8, 9, 30)),
        pytest.param(london(2026, 6, 1, 7, 15), 30, london(2026, 6, 1, 9, 30)),
        pytest.param(london(2026, 6, 1, 18), 30, london(2026, 6, 2, 9, 30)),
        pytest.param(london(2026, 6, 6, 12), 30, london(2026, 6, 8, 9, 30)),
        pytest.param(london(2026, 6, 1, 9), 480 * 5, london(2026, 6, 5, 17)),
    ],
)
def test_deadlines_count_only_working_minutes(
    start: datetime, minutes: int, due: datetime
) -> None:
    result = add(DEFAULT_CALENDAR, start, minutes)

    assert result == due
    assert result.tzinfo is UTC


def test_a_holiday_monday_pushes_friday_work_to_tuesday() -> None:
    assert add(UK_2026, london(2026, 5, 1, 16), 120) == london(2026, 5, 5, 10)


def test_starting_on_a_holiday_counts_from_the_next_working_day() -> None:
    # Friday 25 December and Monday 28 December are both closed.
    assert add(UK_2026, london(2026, 12, 25, 10), 60) == london(2026, 12, 29, 10)
    assert not UK_2026.is_open(london(2026, 12, 25, 10))


def test_a_count_running_out_at_closing_time_ends_there() -> None:
    assert add(DEFAULT_CALENDAR, london(2026, 6, 5, 16), 60) == london(2026, 6, 5, 17)


def test_zero_minutes_keeps_working_moments_and_moves_others_to_the_opening() -> None:
    inside = london(2026, 6, 1, 10, 15, 30)

    assert add(DEFAULT_CALENDAR, inside, 0) == inside
    assert add(DEFAULT_CALENDAR, london(2026, 6, 5, 17), 0) == london(2026, 6, 5, 17)
    assert add(DEFAULT_CALENDAR, london(2026, 6, 6, 3), 0) == london(2026, 6, 8, 9)


def test_seconds_in_the_start_carry_through() -> None:
    start = london(2026, 6, 1, 16, 59, 30, 250)

    assert add(DEFAULT_CALENDAR, start, 1) == london(2026, 6, 2, 9, 0, 30, 250)


def test_minutes_between_counts_working_time_in_a_half_open_range() -> None:
    monday, friday = london(2026, 6, 1, 8), london(2026, 6, 5, 12)

    may_day_week = london(2026, 5, 1), london(2026, 5, 6)

    assert DEFAULT_CALENDAR.business_minutes_between(monday, friday) == 4 * 480 + 180
    assert UK_2026.business_minutes_between(*may_day_week) == 2 * 480
    assert DEFAULT_CALENDAR.business_minutes_between(friday, monday) == 0
    assert DEFAULT_CALENDAR.business_minutes_between(friday, friday) == 0


def test_minutes_between_drops_a_trailing_part_minute() -> None:
    start = london(2026, 6, 1, 10)
    end = start + timedelta(seconds=119)

    assert DEFAULT_CALENDAR.business_minutes_between(start, end) == 1


def test_is_open_includes_the_opening_and_excludes_the_closing() -> None:
    assert DEFAULT_CALENDAR.is_open(london(2026, 6, 1, 9))
    assert DEFAULT_CALENDAR.is_open(london(2026, 6, 1, 16, 59, 59))
    assert not DEFAULT_CALENDAR.is_open(london(2026, 6, 1, 17))
    assert not DEFAULT_CALENDAR.is_open(london(2026, 6, 6, 12))


def test_moments_in_any_zone_are_compared_as_instants() -> None:
    # 08:30 UTC on a June Monday is 09:30 in London.
    start = datetime(2026, 6, 1, 8, 30, tzinfo=UTC)

    assert DEFAULT_CALENDAR.is_open(start)
    assert add(DEFAULT_CALENDAR, start, 30) == london(2026, 6, 1, 10)


# Bad arguments


def test_bad_arguments_are_refused_before_any_counting() -> None:
    start = london(2026, 6, 1, 10)

    with pytest.raises(ValueError, match="start must be a timezone-aware"):
        add(DEFAULT_CALENDAR, datetime(2026, 6, 1, 10), 5)  # noqa: DTZ001
    with pytest.raises(ValueError, match="cannot be negative"):
        add(DEFAULT_CALENDAR, start, -1)
    with pytest.raises(TypeError, match="minutes must be an int, not float"):
        add(DEFAULT_CALENDAR, start, 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not bool"):
        add(DEFAULT_CALENDAR, start, True)
    with pytest.raises(ValueError, match="end must be a timezone-aware"):
        DEFAULT_CALENDAR.business_minutes_between(start, datetime(2026, 6, 2))  # noqa: DTZ001
    with pytest.raises(ValueError, match="moment must be a timezone-aware"):
        DEFAULT_CALENDAR.is_open(datetime(2026, 6, 2))  # noqa: DTZ001


# Clock changes: 29 March and 25 October 2026 in the UK, 8 March and
# 1 November 2026 in the US.


def test_the_uk_spring_change_keeps_local_hours() -> None:
    friday = london(2026, 3, 27, 16)

    assert add(DEFAULT_CALENDAR, friday, 120) == london(2026, 3, 30, 10)
    assert add(DEFAULT_CALENDAR, friday, 120) == datetime(2026, 3, 30, 9, tzinfo=UTC)
    assert EVERY_DAY.business_minutes_between(*day_of(london(2026, 3, 29))) == 480
    assert EVERY_DAY.is_open(datetime(2026, 3, 29, 8, tzinfo=UTC))


def test_the_uk_autumn_change_keeps_local_hours() -> None:
    friday = london(2026, 10, 23, 16)

    assert add(DEFAULT_CALENDAR, friday, 120) == london(2026, 10, 26, 10)
    assert add(DEFAULT_CALENDAR, friday, 120) == datetime(2026, 10, 26, 10, tzinfo=UTC)
    assert EVERY_DAY.business_minutes_between(*day_of(london(2026, 10, 25))) == 480
    assert not EVERY_DAY.is_open(datetime(2026, 10, 25, 8, tzinfo=UTC))


def test_a_window_spanning_a_change_counts_real_minutes() -> None:
    sundays = BusinessCalendar("Europe/London", {6: (time(0), time(12))})
    spring, autumn = london(2026, 3, 29), london(2026, 10, 25)

    assert sundays.business_minutes_between(*day_of(spring)) == 660
    assert sundays.business_minutes_between(*day_of(autumn)) == 780


def test_an_opening_in_a_gap_is_the_moment_of_the_jump() -> None:
    # New York skips 02:00 to 03:00 on 8 March 2026 (07:00 UTC).
    sundays = BusinessCalendar("America/New_York", {6: (time(2, 30), time(4))})
    jump = datetime(2026, 3, 8, 7, tzinfo=UTC)

    assert not sundays.is_open(jump - timedelta(seconds=1))
    assert sundays.is_open(jump)
    assert add(sundays, datetime(2026, 3, 7, tzinfo=UTC), 0) == jump
    assert sundays.business_minutes_between(jump, jump + timedelta(hours=2)) == 60


def test_an_opening_in_a_fold_is_its_first_occurrence() -> None:
    # New York reads 01:00 to 02:00 twice on 1 November 2026: first in EDT.
    sundays = BusinessCalendar("America/New_York", {6: (time(1, 30), time(4))})
    first = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)

    assert add(sundays, datetime(2026, 11, 1, tzinfo=UTC), 0) == first
    assert sundays.business_minutes_between(first, first + timedelta(hours=5)) == 210


def test_an_opening_in_the_uk_gap_is_exactly_the_jump() -> None:
    # London skips 01:00 to 02:00 on 29 March 2026, at 01:00 UTC.
    sundays = BusinessCalendar("Europe/London", {6: (time(1, 30), time(3))})
    jump = datetime(2026, 3, 29, 1, tzinfo=UTC)

    assert add(sundays, london(2026, 3, 29), 0) == jump
    assert add(sundays, london(2026, 3, 29), 60) == london(2026, 3, 29, 3)


def test_a_window_wholly_inside_a_gap_is_empty() -> None:
    sundays = BusinessCalendar("Europe/London", {6: (time(1, 10), time(1, 50))})
    spring = london(2026, 3, 29)

    assert sundays.business_minutes_between(*day_of(spring)) == 0
    assert add(sundays, spring, 10) == london(2026, 4, 5, 1, 20)


# Other zones


def test_new_york_keeps_its_own_hours_and_clock_change() -> None:
    ny = BusinessCalendar("America/New_York", WEEKDAYS)
    # The US changes on 8 March, three weeks before the UK.
    friday = datetime(2026, 3, 6, 16, 30, tzinfo=NEW_YORK)

    assert add(ny, friday, 60) == datetime(2026, 3, 9, 9, 30, tzinfo=NEW_YORK)
    assert add(ny, friday, 60) == datetime(2026, 3, 9, 13, 30, tzinfo=UTC)
    # London is still on GMT, so New York opens at 13:00 London time that week.
    assert not ny.is_open(london(2026, 3, 9, 12, 59))
    assert ny.is_open(london(2026, 3, 9, 13))


def test_kolkata_opens_on_its_half_hour_offset() -> None:
    india = BusinessCalendar("Asia/Kolkata", WEEKDAYS)
    # 03:00 UTC is 08:30 in Kolkata; it opens at 03:30 UTC.
    before_opening = datetime(2026, 6, 1, 3, tzinfo=UTC)

    assert add(india, before_opening, 30) == datetime(2026, 6, 1, 4, tzinfo=UTC)
    assert add(india, before_opening, 30) == datetime(2026, 6, 1, 9, 30, tzinfo=KOLKATA)
    assert not india.is_open(datetime(2026, 6, 1, 3, 29, tzinfo=UTC))


# Large counts and the ends of time


def test_ten_thousand_hours_skip_whole_days() -> None:
    monday = london(2026, 1, 5, 9)
    due = add(DEFAULT_CALENDAR, monday, 10_000 * 60)

    # 1,250 working days of eight hours: 250 weeks, the last ending on a Friday.
    assert due == london(2030, 10, 18, 17)
    assert DEFAULT_CALENDAR.business_minutes_between(monday, due) == 600_000


def test_a_count_past_the_year_9999_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="ran past the dates"):
        add(DEFAULT_CALENDAR, datetime(9999, 12, 1, tzinfo=UTC), 10**6)


# Building a calendar


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("Mars/Olympus", WEEKDAYS), "'Mars/Olympus' is not an IANA time zone"),
        (("europe/london", WEEKDAYS), "is not an IANA time zone"),
        (("localtime", WEEKDAYS), "is not an IANA time zone"),
        (("UTC", {0: (time(17), time(9))}), "mon opens at 17:00, which is not before"),
        (("UTC", {4: (time(9), time(9))}), "fri opens at 09:00"),
        (("UTC", {7: NINE_TO_FIVE}), "weekday 7 is not 0"),
        (("UTC", {0: (time(9, 0, 30), time(17))}), "whole minutes"),
        (("UTC", {0: (time(9, tzinfo=UTC), time(17))}), "naive local time"),
        (("UTC", {}), "at least one open weekday"),
        (("UTC", WEEKDAYS, frozenset({datetime(2026, 1, 1, tzinfo=UTC)})), "dates"),
    ],
)
def test_bad_calendars_are_refused_on_construction(
    arguments: tuple[Any, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(*arguments)


def test_a_closed_week_is_refused_instead_of_searching_forever() -> None:
    with pytest.raises(ValueError, match="at least one open weekday"):
        BusinessCalendar("Europe/London", {})


def test_a_calendar_is_frozen_against_its_inputs_and_hashable() -> None:
    week = dict(WEEKDAYS)
    calendar = BusinessCalendar("Europe/London", week)
    week[5] = NINE_TO_FIVE

    assert 5 not in calendar.week
    assert calendar == DEFAULT_CALENDAR
    assert hash(calendar) == hash(DEFAULT_CALENDAR)
    assert len({calendar, DEFAULT_CALENDAR, UK_2026}) == 2


def test_holidays_are_limited_to_a_year_of_days() -> None:
    days = frozenset(date(2026, 1, 1) + timedelta(days=n) for n in range(367))

    with pytest.raises(ValueError, match=f"at most {MAX_HOLIDAYS} holidays"):
        BusinessCalendar("Europe/London", WEEKDAYS, days)


# Properties, over calendars that include clock changes inside their windows

CALENDARS = st.sampled_from(
    [
        DEFAULT_CALENDAR,
        UK_2026,
        BusinessCalendar("America/New_York", {**WEEKDAYS, 5: (time(10), time(14))}),
        BusinessCalendar("Asia/Kolkata", {0: (time(9, 30), time(18)), 3: NINE_TO_FIVE}),
        BusinessCalendar("Europe/London", {6: (time(0, 30), time(3, 30))}),
        BusinessCalendar("America/New_York", {6: (time(2, 30), time(4))}),
    ]
)
INSTANTS = st.datetimes(
    min_value=datetime(2025, 1, 1),  # noqa: DTZ001
    max_value=datetime(2028, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)
MINUTES = st.integers(0, 30_000)


@given(calendar=CALENDARS, moment=INSTANTS, a=MINUTES, b=MINUTES)
def test_adding_in_two_steps_equals_adding_once(
    calendar: BusinessCalendar, moment: datetime, a: int, b: int
) -> None:
    # Zero minutes moves the moment to an opening, or leaves it within hours.
    start = add(calendar, moment, 0)

    assert add(calendar, add(calendar, start, a), b) == add(calendar, start, a + b)


@given(calendar=CALENDARS, moment=INSTANTS, minutes=MINUTES)
def test_minutes_between_undoes_adding(
    calendar: BusinessCalendar, moment: datetime, minutes: int
) -> None:
    start = add(calendar, moment, 0)
    due = add(calendar, start, minutes)

    assert calendar.business_minutes_between(start, due) == minutes
    assert calendar.business_minutes_between(moment, due) == minutes


@given(calendar=CALENDARS, moment=INSTANTS, a=MINUTES, b=MINUTES)
def test_deadlines_never_precede_the_start_and_grow_with_the_minutes(
    calendar: BusinessCalendar, moment: datetime, a: int, b: int
) -> None:
    low, high = sorted((a, b))

    assert add(calendar, moment, low) >= moment
    assert add(calendar, moment, low) <= add(calendar, moment, high)
    if low < high:
        assert add(calendar, moment, low) < add(calendar, moment, high)


@given(moment=INSTANTS)
def test_is_open_agrees_with_the_local_wall_clock(moment: datetime) -> None:
    # Away from clock changes, open means a working day between 09:00 and 17:00.
    local = moment.astimezone(LONDON)
    expected = (
        local.weekday() < 5
        and local.date() not in UK_2026.holidays
        and time(9) <= local.time() < time(17)
    )

    assert UK_2026.is_open(moment) == expected
