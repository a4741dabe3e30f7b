"""The calendar's stored form and the admin API body that validates it."""

from datetime import date, time, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from creditdesk.approvals.calendar import (
    DEFAULT_CALENDAR,
    MAX_HOLIDAYS,
    BusinessCalendar,
    CalendarIn,
)

NINE_TO_FIVE = (time(9), time(17))


def test_the_config_form_is_plain_json() -> None:
    calendar = BusinessCalendar(
        "Europe/London",
        {0: NINE_TO_FIVE, 2: (time(8, 30), time(12)), 5: (time(0), time(23, 59))},
        frozenset({date(2026, 12, 25), date(2026, 5, 4)}),
    )

    assert calendar.to_config() == {
        "time_zone": "Europe/London",
        "week": {
            "mon": ["09:00", "17:00"],
            "wed": ["08:30", "12:00"],
            "sat": ["00:00", "23:59"],
        },
        "holidays": ["2026-05-04", "2026-12-25"],
    }


def test_the_default_calendar_is_london_nine_to_five_on_weekdays() -> None:
    week = DEFAULT_CALENDAR.to_config()["week"]

    assert DEFAULT_CALENDAR.time_zone == "Europe/London"
    assert week == {
        day: ["09:00", "17:00"] for day in ("mon", "tue", "wed", "thu", "fri")
    }
    assert DEFAULT_CALENDAR.holidays == frozenset()


WALL_TIMES = st.builds(time, st.integers(0, 23), st.integers(0, 59))
WINDOWS = st.tuples(WALL_TIMES, WALL_TIMES).filter(lambda w: w[0] != w[1]).map(sorted)


@given(
    zone=st.sampled_from(["Europe/London", "America/New_York", "Asia/Kolkata", "UTC"]),
    week=st.dictionaries(st.integers(0, 6), WINDOWS.map(tuple), min_size=1),
    holidays=st.frozensets(st.dates(date(2020, 1, 1), date(2035, 12, 31)), max_size=30),
)
def test_config_round_trips(
    zone: str, week: dict[int, tuple[time, time]], holidays: frozenset[date]
) -> None:
    calendar = BusinessCalendar(zone, week, holidays)

    assert BusinessCalendar.from_config(calendar.to_config()) == calendar


def test_from_config_refuses_a_bad_document_as_a_value_error() -> None:
    with pytest.raises(ValueError, match="time_zone"):
        BusinessCalendar.from_config({"time_zone": "Nowhere", "week": {}})


def _good() -> dict[str, Any]:
    return DEFAULT_CALENDAR.to_config() | {"holidays": ["2026-12-25"]}


def _errors(document: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        CalendarIn.model_validate(document)
    return {".".join(map(str, e["loc"])): e["msg"] for e in caught.value.errors()}


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone", "not an IANA time zone"),
        ({"time_zone": 0}, "time_zone", "valid string"),
        ({"week": {"mon": ["17:00", "09:00"]}}, "week.mon", "not before it closes"),
        ({"week": {"tue": ["9:00", "17:00"]}}, "week.tue.0", '"HH:MM"'),
        ({"week": {"wed": ["09:00", "24:00"]}}, "week.wed.1", '"HH:MM"'),
        ({"week": {"thu": [900, 1700]}}, "week.thu.0", '"HH:MM"'),
        ({"week": {"fri": ["09:00"]}}, "week.fri.1", "Field required"),
        ({"week": {"fri": ["09:00", "12:00", "17:00"]}}, "week.fri", "at most 2"),
        ({"week": {"funday": ["09:00", "17:00"]}}, "week.funday", "not permitted"),
        ({"week": {}}, "week", "at least one weekday must open"),
        ({"week": {"sat": None}}, "week", "at least one weekday must open"),
        ({"holidays": ["2026-12-25", "2026-02-30"]}, "holidays.1", "YYYY-MM-DD"),
        ({"holidays": ["20261225"]}, "holidays.0", "YYYY-MM-DD"),
        ({"holidays": "2026-12-25"}, "holidays", "valid list"),
        ({"colour": "blue"}, "colour", "not permitted"),
    ],
)
def test_calendar_in_names_the_field_at_fault(
    change: dict[str, Any], field: str, message: str
) -> None:
    errors = _errors(_good() | change)

    assert field in errors
    assert message in errors[field]


def test_calendar_in_takes_at_most_a_year_of_holidays() -> None:
    days = [str(date(2026, 1, 1) + timedelta(days=n)) for n in range(MAX_HOLIDAYS + 1)]

    assert "at most 366" in _errors(_good() | {"holidays": days})["holidays"]


def test_calendar_in_needs_a_zone_and_a_week() -> None:
    assert set(_errors({})) == {"time_zone", "week"}


def test_calendar_in_builds_the_calendar_and_serialises_back() -> None:
    body = CalendarIn.model_validate(_good() | {"week": {"sat": ["10:00", "12:30"]}})

    assert body.to_calendar() == BusinessCalendar(
        "Europe/London", {5: (time(10), time(12, 30))}, frozenset({date(2026, 12, 25)})
    )
    assert body.model_dump(mode="json", exclude_none=True)["week"] == {
        "sat": ["10:00", "12:30"]
    }
