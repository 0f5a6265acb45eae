"""What the tiers context publishes."""

from __future__ import annotations

from dataclasses import dataclass

from core.shared.bus import DomainEvent


@dataclass(frozen=True, kw_only=True)
class TierChanged(DomainEvent):
    member_id: int
    # The TierChange row: one per move.
    change_id: int
    from_tier: str | None
    to_tier: str | None
    upgrade: bool
    reason: str
    # The marketer's names per language at the time of the move.
    from_name: dict[str, str] | None
    to_name: dict[str, str] | None
    # Made by the scheduled review (grace over, thresholds changed), not by the member just
    # now: nobody expects it at that moment, so it is told in their waking hours.
    scheduled: bool = False
