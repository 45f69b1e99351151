"""Times and dates as people read them: in US Eastern time, labelled ET (daylight saving is
zoneinfo's business), dates as "1 December 2026", times as "2:05pm", and, where a deadline
matters, how long is left ("in 29 minutes"). Every page and email shows times through these."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

ZONE = ZoneInfo("America/New_York")
LABEL = "ET"


def local(moment: datetime) -> datetime:
    return moment.astimezone(ZONE)


def day(moment: datetime | date | str) -> str:
    """ "1 December 2026": a moment's day in Eastern time, or a calendar date as it is (a date
    of birth), given as a ``date`` or as stored, in ISO form ("2026-12-01"). A string that is
    not an ISO date is shown as it is."""
    if isinstance(moment, str):
        try:
            at = date.fromisoformat(moment)
        except ValueError:
            return moment
    else:
        at = local(moment) if isinstance(moment, datetime) else moment
    return f"{at.day} {at:%B %Y}"


def clock(moment: datetime) -> str:
    """ "2:05pm ET", "12:00am ET" (GOV.UK style, with the zone's label)."""
    at = local(moment)
    return f"{at.hour % 12 or 12}:{at:%M}{'am' if at.hour < 12 else 'pm'} {LABEL}"


def day_and_clock(moment: datetime) -> str:
    """ "1 December 2026, 2:05pm ET"."""
    return f"{day(moment)}, {clock(moment)}"


def when(moment: datetime, now: datetime) -> str:
    """A moment to come, as a person needs it: "2:05pm ET" when it is today (in Eastern time),
    "2:05pm ET on 2 December 2026" otherwise."""
    if local(moment).date() == local(now).date():
        return clock(moment)
    return f"{clock(moment)} on {day(moment)}"


def time_left(moment: datetime, now: datetime) -> str:
    """How long until ``moment``, rounded up to the minute: "in 29 minutes" (under two hours),
    "in 1 hour", "in 5 hours" (under two days), "in 3 days"; "now" once it has come."""
    seconds = int((moment - now).total_seconds())
    if seconds <= 0:
        return "now"
    minutes = -(-seconds // 60)
    if minutes == 60:
        return "in 1 hour"
    if minutes < 120:
        return f"in {minutes} minute{'s' if minutes != 1 else ''}"
    if minutes < 48 * 60:
        return f"in {minutes // 60} hours"
    return f"in {minutes // 1440} days"


def deadline(moment: datetime, now: datetime) -> str:
    """ "2:05pm ET (in 29 minutes)"; with the day when it is not today."""
    return f"{when(moment, now)} ({time_left(moment, now)})"


def days_until(moment: datetime, now: datetime) -> int:
    """Calendar days in Eastern time from ``now`` to ``moment`` (negative once past): a
    request due at 11pm ET is due "today" until midnight ET, not until midnight UTC."""
    return (local(moment).date() - local(now).date()).days
