"""Periods as ordinals: consecutive days or weeks are consecutive integers, so "the next
period" and "one missed" are arithmetic whatever the calendar does (months, years, DST)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

DAY = "day"
WEEK = "week"


def ordinal(day: date, period: str) -> int:
    """The day's number (proleptic Gregorian), or its ISO week's (weeks start on Monday)."""
    number = day.toordinal()
    # date(1, 1, 1) is a Monday, ordinal 1: (ordinal - 1) // 7 counts Monday-based weeks.
    return number if period == DAY else (number - 1) // 7


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def last_day_of(period_ordinal: int, period: str) -> date:
    """The last local day of a period (a day itself, or a week's Sunday)."""
    if period == DAY:
        return date.fromordinal(period_ordinal)
    return date.fromordinal(period_ordinal * 7 + 1) + timedelta(days=6)
