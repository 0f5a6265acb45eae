"""What the games contexts publish to each other (and, later, to webhooks)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from core.shared.bus import DomainEvent


@dataclass(frozen=True, kw_only=True)
class QuestCompleted(DomainEvent):
    """A member finished every step of a quest in one period (once per member, quest, period)."""

    member_id: int
    quest_id: int
    # "once" for a one-off quest, else the period in the member's time zone ("2026-12-01",
    # "2026-W49").
    period: str
    # The badge the quest's reward names, for the badges to award (None: no badge).
    badge: str | None = None


@dataclass(frozen=True, kw_only=True)
class CheckedIn(DomainEvent):
    """A member checked in for the day (at most once per day in the member's time zone)."""

    member_id: int
    day: date
