"""What the ledger context publishes."""

from __future__ import annotations

from dataclasses import dataclass

from core.shared.bus import DomainEvent


@dataclass(frozen=True, kw_only=True)
class PointsExpired(DomainEvent):
    member_id: int
    points: int
    balance: int
    # The first lot that expired names this expiry (each lot is drained once).
    first_lot_id: int


@dataclass(frozen=True, kw_only=True)
class PointsAdjusted(DomainEvent):
    """Staff corrected a member's balance by hand (support, a till's mistake)."""

    member_id: int
    adjustment_id: str
    points: int
    balance: int
