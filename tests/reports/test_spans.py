"""Calendar spans cut to a report's range, and the joined durations."""

from datetime import UTC, datetime

from creditdesk.reports.spans import months, parsed, weeks


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_months_across_a_year_end_are_cut_to_the_range() -> None:
    spans = months(utc("2025-12-10"), utc("2026-02-03"))

    assert spans == [
        ("2025-12", utc("2025-12-10"), utc("2026-01-01")),
        ("2026-01", utc("2026-01-01"), utc("2026-02-01")),
        ("2026-02", utc("2026-02-01"), utc("2026-02-03")),
    ]


def test_weeks_are_named_by_their_monday_even_when_the_range_starts_later() -> None:
    # 2026-03-04 is a Wednesday; 2026-03-16 a Monday, so the range ends there.
    spans = weeks(utc("2026-03-04"), utc("2026-03-16"))

    assert spans == [
        ("2026-03-02", utc("2026-03-04"), utc("2026-03-09")),
        ("2026-03-09", utc("2026-03-09"), utc("2026-03-16")),
    ]


def test_joined_values_read_back_with_empty_places_as_unknown() -> None:
    assert list(parsed("7200,,86400")) == [7200, None, 86400]
    assert list(parsed("")) == [None]
    assert list(parsed(None)) == []
