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
