"""What the referrals context publishes."""

from __future__ import annotations

from dataclasses import dataclass

from core.shared.bus import DomainEvent


@dataclass(frozen=True, kw_only=True)
class ReferralQualified(DomainEvent):
    """A referred friend qualified and both sides were rewarded (once per referral_id)."""

    member_id: int  # the friend
    referrer_id: int
    referral_id: int
    friend_points: int
    referrer_points: int
