"""A recurring quest's periods, in the member's time zone: "once", a local day ("2026-12-01")
or an ISO week ("2026-W49")."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

ONCE = "once"


def period_of(recurrence: str, when: datetime, zone: ZoneInfo) -> str:
    if recurrence == "once":
        return ONCE
    local = when.astimezone(zone).date()
    if recurrence == "daily":
        return local.isoformat()
    if recurrence == "weekly":
        year, week, _day = local.isocalendar()
        return f"{year}-W{week:02d}"
    raise ValueError(f"unknown recurrence {recurrence!r}")
