"""What the members context publishes."""

from __future__ import annotations

from dataclasses import dataclass

from core.shared.bus import DomainEvent


@dataclass(frozen=True, kw_only=True)
class MemberJoined(DomainEvent):
    """A new member was enrolled (once per member: member_id is the key)."""

    member_id: int
    channel: str
    # The member whose card or referral link the new member came with, if any.
    referrer_id: int | None


@dataclass(frozen=True, kw_only=True)
class MembersMerged(DomainEvent):
    """Two members turned out to be one person: `absorbed_id` now points at `member_id`."""

    member_id: int
    absorbed_id: int
    points_moved: int


@dataclass(frozen=True, kw_only=True)
class ProfileChanged(DomainEvent):
    """A member's phone, birthday or offers consent was set or changed after joining (joining
    itself is `MemberJoined`): what the profile holds now, so a subscriber need not read it."""

    member_id: int
    has_phone: bool
    has_birthday: bool
    marketing: bool
