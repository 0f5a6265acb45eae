"""What streaks publish."""

from __future__ import annotations

from dataclasses import dataclass

from core.shared.bus import DomainEvent


@dataclass(frozen=True, kw_only=True)
class StreakExtended(DomainEvent):
    """A member's streak `key` grew to `current` periods (once per period)."""

    member_id: int
    key: str
    current: int
    best: int
