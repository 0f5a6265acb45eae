"""A member's local time and night: the local hours in which nothing the member did not ask
for reaches them (a broadcast, a reminder, a greeting). What is due then waits for the end of
the night, in the member's own time zone (`zone_of`: theirs, else the program's)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger(__name__)

# 22:00 to 09:00 unless the program's rules (or a broadcast) say otherwise.
QUIET_START = 22
QUIET_END = 9


def zone_of(name: str | None, fallback: ZoneInfo) -> ZoneInfo:
    """The zone called `name`, or `fallback` if there is none (or no such zone)."""
    if not name:
        return fallback
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r: using the program's", name)
        return fallback


class QuietWindow(Protocol):
    """From `start` (inclusive) to `end` (exclusive), whole local hours; across midnight when
    start > end; none when they are equal."""

    @property
    def start(self) -> int: ...

    @property
    def end(self) -> int: ...


def is_quiet(quiet: QuietWindow, hour: int) -> bool:
    if quiet.start == quiet.end:
        return False
    if quiet.start < quiet.end:
        return quiet.start <= hour < quiet.end
    return hour >= quiet.start or hour < quiet.end


def quiet_until(now: datetime, zone: ZoneInfo, quiet: QuietWindow) -> datetime | None:
    """When the member's quiet hours end, if it is their night now; else None."""
    local = now.astimezone(zone)
    if not is_quiet(quiet, local.hour):
        return None
    morning = local.replace(hour=quiet.end, minute=0, second=0, microsecond=0)
    if morning <= local:
        morning += timedelta(days=1)
    return morning


@dataclass(frozen=True)
class Night:
    """A quiet window as a value (the program's rules hold it as two fields)."""

    start: int
    end: int


class ShopHours(Protocol):
    """The program's rules as far as a member's night goes (core.rules.ProgramRules)."""

    @property
    def time_zone(self) -> str: ...

    @property
    def quiet_hours(self) -> Night: ...


def morning_for(now: datetime, zone_name: str | None, shop: ShopHours) -> datetime | None:
    """When something nobody asked for at `now` may reach the member: the end of their night
    if it is their night now (the shop's quiet hours in their zone, else the shop's); else
    None."""
    zone = zone_of(zone_name, zone_of(shop.time_zone, ZoneInfo("UTC")))
    return quiet_until(now, zone, shop.quiet_hours)
