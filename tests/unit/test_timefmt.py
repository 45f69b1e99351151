"""Times as people read them: US Eastern time labelled ET, on both sides of each daylight-saving
change, dates as "1 December 2026", and how long is left."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from portal import timefmt

NOON_UTC = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)  # 12:00pm ET (EST, UTC-5)


@pytest.mark.parametrize(
    ("moment", "shown"),
    [
        (datetime(2026, 3, 8, 6, 59, tzinfo=UTC), "1:59am ET"),  # EST, the last minute before the change
        (datetime(2026, 3, 8, 7, 0, tzinfo=UTC), "3:00am ET"),  # EDT: 2am never happens that night
        (datetime(2026, 11, 1, 5, 59, tzinfo=UTC), "1:59am ET"),  # EDT, the first 1:59am
        (datetime(2026, 11, 1, 6, 0, tzinfo=UTC), "1:00am ET"),  # EST: the hour repeats
        (datetime(2026, 7, 4, 16, 30, tzinfo=UTC), "12:30pm ET"),  # summer: UTC-4
        (datetime(2026, 12, 1, 5, 0, tzinfo=UTC), "12:00am ET"),  # winter midnight: UTC-5
        (datetime(2026, 12, 1, 4, 59, tzinfo=UTC), "11:59pm ET"),
    ],
)
def test_clock_is_eastern_time_across_daylight_saving(moment, shown):
    assert timefmt.clock(moment) == shown


def test_the_day_is_the_eastern_day_in_one_format():
    assert timefmt.day(datetime(2026, 12, 1, 4, 59, tzinfo=UTC)) == "30 November 2026"  # still the 30th in ET
    assert timefmt.day(datetime(2026, 12, 1, 5, 0, tzinfo=UTC)) == "1 December 2026"
    assert timefmt.day_and_clock(NOON_UTC) == "1 December 2026, 12:00pm ET"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("1980-03-27", "27 March 1980"),  # a date of birth as stored
        ("2026-12-01", "1 December 2026"),  # no leading zero
        (date(1980, 3, 7), "7 March 1980"),  # a calendar date is not moved to another zone
        ("not a date", "not a date"),  # shown as it is rather than failing the page
        ("", ""),
    ],
)
def test_a_calendar_date_or_its_iso_form_in_the_one_format(value, shown):
    assert timefmt.day(value) == shown


@pytest.mark.parametrize(
    ("later", "left"),
    [
        (timedelta(seconds=1), "in 1 minute"),
        (timedelta(minutes=29, seconds=1), "in 30 minutes"),  # rounded up to the minute
        (timedelta(minutes=60), "in 1 hour"),
        (timedelta(minutes=90), "in 90 minutes"),
        (timedelta(hours=5, minutes=59), "in 5 hours"),
        (timedelta(hours=72), "in 3 days"),
        (timedelta(0), "now"),
        (timedelta(minutes=-5), "now"),
    ],
)
def test_time_left(later, left):
    assert timefmt.time_left(NOON_UTC + later, NOON_UTC) == left


def test_a_deadline_says_when_and_how_long_with_the_day_only_when_not_today():
    assert timefmt.deadline(NOON_UTC + timedelta(minutes=30), NOON_UTC) == "12:30pm ET (in 30 minutes)"
    assert timefmt.deadline(NOON_UTC + timedelta(hours=72), NOON_UTC) == "12:00pm ET on 4 December 2026 (in 3 days)"
    # "Today" is the Eastern day: 11:30pm ET and 12:30am ET the next day are on different days.
    late = datetime(2026, 12, 2, 4, 30, tzinfo=UTC)  # 11:30pm ET, 1 December
    assert timefmt.deadline(late + timedelta(hours=1), late) == "12:30am ET on 2 December 2026 (in 1 hour)"


def test_across_the_spring_change_an_hour_of_clock_time_is_an_hour_left():
    before = datetime(2026, 3, 8, 6, 30, tzinfo=UTC)  # 1:30am EST
    assert timefmt.deadline(before + timedelta(hours=1), before) == "3:30am ET (in 1 hour)"


def test_days_until_counts_eastern_calendar_days():
    # 11:30pm ET on 1 December is 04:30 UTC on 2 December: still "today" for an approver in ET.
    evening = datetime(2026, 12, 2, 4, 30, tzinfo=UTC)
    noon = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
    assert timefmt.days_until(evening, noon) == 0
    assert timefmt.days_until(noon + timedelta(days=3), noon) == 3
    assert timefmt.days_until(noon - timedelta(days=2), noon) == -2
    # Across the change to daylight saving time (8 March 2026): still whole calendar days.
    before = datetime(2026, 3, 7, 17, 0, tzinfo=UTC)
    assert timefmt.days_until(before + timedelta(days=2), before) == 2
