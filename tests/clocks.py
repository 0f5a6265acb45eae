"""Controllable clocks for tests: the program takes its time from a `Clock`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.shared.clock import Clock, SystemClock

TEST_DAY = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


class StoppedClock:
    """A clock that stands still until the test moves it."""

    def __init__(self, now: datetime = TEST_DAY) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def set(
        self, year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
    ) -> None:
        self.current = datetime(year, month, day, hour, minute, second, tzinfo=UTC)

    def advance(self, delta: timedelta = timedelta(), /, **parts: float) -> None:
        self.current += delta + timedelta(**parts)


class ShiftedClock:
    """Real time (or another clock's), moved forward on demand: backoffs, leases, links
    that expire."""

    def __init__(self, base: Clock | None = None) -> None:
        self._base = base or SystemClock()
        self.offset = timedelta()

    def now(self) -> datetime:
        return self._base.now() + self.offset
